//! `raytls inspect`.
