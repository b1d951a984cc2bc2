//! One integration test binary (ripgrep's layout): each module runs the real `raytls`.
mod kit;
