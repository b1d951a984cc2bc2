//! The network side: mutual-TLS connect with per-phase deadlines, gRPC health check of a
//! Ray GCS, and the diagnosis of every failure (issue 4).
//!
//! - `target`: parse `--address` (`HOST[:PORT]`, `[IPv6]:PORT`).
//! - `credentials`: our CA/cert/key and the auth token, checked before dialing.
//! - `failure`: the vocabulary of a failed check (`Phase`, `Cause`, `Failure`).
//! - `tls`: resolve, TCP connect, rustls handshake; records what the peer sent and presented.
//! - `grpc`: Ray's GCS messages (hand-written prost) and a tonic client over our stream.
//! - `health`: what "healthy" means, the gRPC-phase diagnosis, and the report per address.
//! - `cluster`: `--all-nodes`, every node's raylet as the GCS dials it (issue 13).
//! - `pool`: many checks a few at a time, with nothing made per check before its turn.
pub mod cluster;
pub mod credentials;
pub mod failure;
pub mod grpc;
pub mod health;
pub mod pool;
pub mod target;
pub mod tls;
