# syntax=docker/dockerfile:1
# entramail-operator image: a static musl release binary on distroless/static, running as UID/GID 65532.
#
#   docker build -t ghcr.io/entramail/entramail-operator:dev .
#
# No container engine runs in this project's CI: the Dockerfile itself is checked statically
# (`trivy config`, from tests/chart.sh), and the binary it builds is the one `cargo build --release` builds and the
# integration tests exercise. Build it locally or in the release pipeline.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-alpine AS build
# musl-dev: libc headers for the static binary; the rustls crypto backend (aws-lc-sys) compiles C with cc.
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds; the binary is copied out of the cached target.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin entramail-operator \
 && install -D -m 0755 target/release/entramail-operator /out/entramail-operator

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="entramail-operator" \
      org.opencontainers.image.description="Provisions and rotates Microsoft Entra app credentials for NocoBase mail" \
      org.opencontainers.image.source="https://github.com/entramail/entramail-operator" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/entramail-operator /usr/local/bin/entramail-operator
# Metrics, /healthz and /readyz.
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/entramail-operator"]
