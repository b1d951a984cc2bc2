# syntax=docker/dockerfile:1
# raytls image for KubeRay init containers (examples/raycluster-*.yaml).
#
# Size goal: under 15 MB uncompressed (alpine ~8 MB + one static raytls binary; check with
# `docker image ls raytls`). alpine rather than scratch/distroless because the workers'
# wait-for-GCS init container loops in /bin/sh around `raytls health-check`.
#
#   docker build -t raytls:0.1.0 .
#   docker run --rm raytls:0.1.0 token generate
#
# Stage 1 builds a static musl binary (alpine's Rust targets x86_64/aarch64-unknown-linux-musl
# with crt-static), with the release profile of Cargo.toml (LTO, strip, panic=abort).
ARG RUST_VERSION=1
FROM rust:${RUST_VERSION}-alpine AS build
# ring builds C and assembly: it needs a C compiler (in the image) and musl's headers.
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# cargo refuses a manifest whose declared targets or path dependencies are missing, even
# those the release build does not compile: the [[bench]] files and the fake GCS crate (a
# workspace member and dev-dependency) come along. scripts/check-dockerfile.sh checks this.
COPY benches ./benches
COPY tests/fake_gcs ./tests/fake_gcs
# Cache mounts keep the registry and target dir between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && cp target/release/raytls /raytls

# Stage 2: the binary alone on a small base with a shell.
FROM alpine:3.20
COPY --from=build /raytls /usr/local/bin/raytls
# Fails the build if the binary does not run here (e.g. not static after all).
RUN ["/usr/local/bin/raytls", "--version"]
# uid 1000 / gid 100 is the `ray` user of rayproject/ray: the 0600 key that `raytls init`
# writes into the shared emptyDir must be readable by Ray, and by nobody else.
USER 1000:100
ENTRYPOINT ["/usr/local/bin/raytls"]
CMD ["--help"]
