//! The network side: mutual-TLS connect with per-phase deadlines, gRPC health check of a
//! Ray GCS, and the diagnosis of every failure (issue 4).
//!
//! - `target`: parse `--address` (`HOST[:PORT]`, `[IPv6]:PORT`).
//! - `credentials`: our CA/cert/key and the auth token, checked before dialing.
//! - `tls`: resolve, TCP connect, rustls handshake; records what the peer sent and presented.
//! - `grpc`: Ray's GCS messages (hand-written prost) and a tonic client over our stream.
//! - `health`: the phases, what "healthy" means, and the `Cause` of every failure.
pub mod credentials;
pub mod grpc;
pub mod health;
pub mod target;
pub mod tls;
