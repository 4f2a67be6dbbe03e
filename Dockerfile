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
# postgresql-client-15: pg_dump and pg_restore for `arbctl db backup|restore`
# (the server's major version). /backups is the backup service's volume: a
# new named volume takes the mount point's owner, so arb can write there.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 arb \
 && mkdir /backups && chown arb /backups
COPY --from=build /out/ /usr/local/bin/
USER arb
ENV RUST_LOG=info \
    PG_DUMP=/usr/lib/postgresql/15/bin/pg_dump \
    PG_RESTORE=/usr/lib/postgresql/15/bin/pg_restore
CMD ["arbctl", "--help"]
