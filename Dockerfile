# Notarium in a container: a multi-stage build, and a small non-root runtime image.
#
#   docker build -t notarium .
#   docker run -p 4443:4443 -v notarium-data:/var/lib/notarium notarium
#
# The base images are build arguments, so that a machine with no image registry can build from
# bases it made itself (README, "Container"; compat/lib/images.sh makes both from Debian
# packages):
#   docker build --build-arg RUST_IMAGE=… --build-arg RUNTIME_IMAGE=… -t notarium .
# RUST_IMAGE needs cargo and rustc at least at Cargo.toml's rust-version, a C compiler and libc
# headers; RUNTIME_IMAGE a Debian root with apt-get and useradd.
#
# The runtime image listens on 0.0.0.0:4443 and keeps its data in /var/lib/notarium (a volume):
# the database, and without TLS settings the generated local CA (tls/ca.crt) and the development
# key-encryption key. In production mount your certificate and key-encryption key and point at
# PostgreSQL, e.g.
#   -e NOTARIUM_TLS_CERT=/run/secrets/tls.crt -e NOTARIUM_TLS_KEY=/run/secrets/tls.key
#   -e NOTARIUM_KEY_ENCRYPTION_KEY_FILE=/run/secrets/kek
#   -e NOTARIUM_DATABASE_URL=postgres://notarium@db:5432/notarium
#
# No HEALTHCHECK: it would need an HTTP client in the image (the runtime has no curl, and notarium
# has no probe subcommand); orchestrators probe GET /_notary_server/health from outside.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
# Passed through to cargo when given (e.g. --build-arg CARGO_BUILD_JOBS=2); left unset they are
# not in the environment at all, and cargo's defaults (one job per CPU) and Cargo.toml's release
# profile stand. The profile's settings are there for a test build that trades the binary's speed
# for build time (compat/flows/image.sh); an image to ship is built without them.
ARG CARGO_BUILD_JOBS CARGO_PROFILE_RELEASE_LTO CARGO_PROFILE_RELEASE_CODEGEN_UNITS \
    CARGO_PROFILE_RELEASE_OPT_LEVEL
WORKDIR /src
# Dependencies first, so that source changes do not rebuild them: the manifest and the lock file
# with stub sources build every dependency of the binary into their own layer. The workspace's
# other member (the benchmark harness) is only a manifest and a stub here: cargo reads every
# member's manifest, and the image builds the server alone.
COPY Cargo.toml Cargo.lock ./
COPY .cargo ./.cargo
COPY bench/Cargo.toml ./bench/
RUN mkdir src bench/src && echo 'fn main() {}' > src/main.rs && : > src/lib.rs \
    && echo 'fn main() {}' > bench/src/main.rs \
    && cargo build --release --locked --bin notarium \
    && rm -rf src
COPY src ./src
COPY migrations ./migrations
# COPY keeps the files' own times, older than the stubs': touch them so cargo rebuilds the crate.
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin notarium \
    && ./target/release/notarium --version

FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 notarium \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/notarium --create-home \
       --shell /usr/sbin/nologin notarium
COPY --from=build /src/target/release/notarium /usr/local/bin/notarium
USER 10001:10001
WORKDIR /var/lib/notarium
VOLUME ["/var/lib/notarium"]
ENV NOTARIUM_LISTEN=0.0.0.0:4443 \
    NOTARIUM_DATA_DIR=/var/lib/notarium
EXPOSE 4443
# notarium runs as PID 1 and handles SIGTERM itself: it stops accepting, drains open connections
# and exits 0, well within `docker stop`'s 10 s.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/notarium"]
CMD ["serve"]
