# Build: the release binary, from the workspace.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sluice

# Run: a slim image with the binary and CA roots (for STARTTLS/SMTPS to relays).
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /nonexistent sluice
COPY --from=build /src/target/release/sluice /usr/local/bin/sluice
USER sluice
ENV SLUICE_LISTEN=0.0.0.0:8080 SLUICE_INBOUND_LISTEN=0.0.0.0:2526
# 8080: the HTTP API; 2526: the inbound SMTP listener for bounces and complaints
# (point the bounce domain's MX at it, through port 25).
EXPOSE 8080 2526
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve"]
