//! Renewal as a service (`raytls renew --watch`, a pod's native sidecar). `schedule` holds
//! the timing rules as pure functions.
pub mod schedule;
