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
ENV SLUICE_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["serve"]
