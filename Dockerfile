# Multi-stage build: compile in the Rust image, run as a non-root user in a slim image.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin notarium

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/notarium notarium \
 && mkdir -p /var/lib/notarium && chown notarium /var/lib/notarium
COPY --from=build /src/target/release/notarium /usr/local/bin/notarium
USER notarium
ENV NOTARIUM_DATA_DIR=/var/lib/notarium NOTARIUM_LISTEN=0.0.0.0:4443
EXPOSE 4443
ENTRYPOINT ["notarium", "serve"]
