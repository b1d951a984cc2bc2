//! The RAY_TLS_* environment for the Ray container, in each output format.
