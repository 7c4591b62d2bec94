# syntax=docker/dockerfile:1
#
# herald as a small image: `herald serve` as the unprivileged user `herald`, its SQLite
# file on the volume /var/lib/herald. docs/deploy.md says how to run it.
#
#   docker build -t herald .
#   docker run -d --name herald -p 8787:8787 --stop-timeout 40 \
#     -v herald-data:/var/lib/herald -v "$PWD/herald.toml:/etc/herald/herald.toml:ro" \
#     -e GITHUB_WEBHOOK_SECRET herald

# The builder: the Rust version the workspace declares (`rust-version` in Cargo.toml).
# The slim image has gcc, which the bundled SQLite, zstd, mimalloc and ring compile with.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target/ are cached between builds (BuildKit); the binary is copied
# out of the cache in the same step. `--locked`: the dependencies of Cargo.lock, no other.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p herald \
    && cp target/release/herald /usr/local/bin/herald

FROM debian:bookworm-slim
# ca-certificates: destinations are verified against the system's roots.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system herald \
    && useradd --system --gid herald --home-dir /var/lib/herald --no-create-home \
        --shell /usr/sbin/nologin herald \
    && mkdir -p /etc/herald /var/lib/herald \
    && chown herald:herald /var/lib/herald
COPY --from=build /usr/local/bin/herald /usr/local/bin/herald
# The SQLite store: set `[storage] path = "/var/lib/herald/herald.db"` in the mounted
# configuration (a relative path is read next to the configuration file, /etc/herald).
VOLUME /var/lib/herald
WORKDIR /var/lib/herald
USER herald
# HOSTNAME names this process in the store's leases; Docker sets it to the container id.
EXPOSE 8787
# SIGTERM (`docker stop`) makes herald stop accepting, give in-flight deliveries
# `server.shutdown_grace` (25 s by default) and commit what is queued: give it more than
# Docker's default 10 s with `--stop-timeout` (or compose's `stop_grace_period`).
STOPSIGNAL SIGTERM
ENTRYPOINT ["herald"]
# In a container, listen on every interface of its own network (herald's default is
# 127.0.0.1:8787, unreachable from outside the container).
CMD ["serve", "--config", "/etc/herald/herald.toml", "--listen", "0.0.0.0:8787"]
