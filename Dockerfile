# Notarium in a container: a multi-stage build, and a small non-root runtime image.
#
#   docker build -t notarium .
#   docker run -p 4443:4443 -v notarium-data:/var/lib/notarium notarium
#
# The runtime image listens on 0.0.0.0:4443 and keeps its data in /var/lib/notarium (a volume).
# In production mount your certificate and key-encryption key and point at PostgreSQL, e.g.
#   -e NOTARIUM_TLS_CERT=/run/secrets/tls.crt -e NOTARIUM_TLS_KEY=/run/secrets/tls.key
#   -e NOTARIUM_KEY_ENCRYPTION_KEY_FILE=/run/secrets/kek
#   -e NOTARIUM_DATABASE_URL=postgres://notarium@db:5432/notarium

FROM rust:1-bookworm AS build
WORKDIR /src
# Dependencies first, so that source changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked --bin notarium || true
COPY src ./src
COPY migrations ./migrations
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin notarium

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/notarium --create-home notarium
COPY --from=build /src/target/release/notarium /usr/local/bin/notarium
USER 10001:10001
WORKDIR /var/lib/notarium
VOLUME ["/var/lib/notarium"]
ENV NOTARIUM_LISTEN=0.0.0.0:4443 \
    NOTARIUM_DATA_DIR=/var/lib/notarium
EXPOSE 4443
ENTRYPOINT ["/usr/local/bin/notarium"]
CMD ["serve"]
