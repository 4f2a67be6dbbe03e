# Builds every arbitrade binary into one small runtime image; docker compose
# runs each service from it with its own command.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bins \
 && mkdir -p /out \
 && cp target/release/arb-feed target/release/arb-detector target/release/arb-executor target/release/arb-sink target/release/arb-replay target/release/arbctl /out/

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 arb
COPY --from=build /out/ /usr/local/bin/
USER arb
ENV RUST_LOG=info
CMD ["arbctl", "--help"]
