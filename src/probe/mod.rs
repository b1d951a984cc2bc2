//! The network side: mutual-TLS connect with per-phase deadlines, gRPC health check of a
//! Ray GCS, and the diagnosis of every failure (issue 4).
