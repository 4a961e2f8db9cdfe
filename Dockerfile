# slagboom: multi-stage build. The runtime image holds the binary, the demo rules and
# registry, and nothing else; it runs as an unprivileged user.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked --bin slagboom

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/slagboom --shell /usr/sbin/nologin slagboom \
 && mkdir -p /etc/slagboom /var/lib/slagboom/spool /var/log/slagboom \
 && chown -R slagboom:slagboom /var/lib/slagboom /var/log/slagboom
COPY --from=build /src/target/release/slagboom /usr/local/bin/slagboom
COPY rules /etc/slagboom/rules
COPY registry /etc/slagboom/registry
COPY deploy/slagboom.toml /etc/slagboom/slagboom.toml
USER slagboom
WORKDIR /var/lib/slagboom
EXPOSE 3128 9090
HEALTHCHECK --interval=10s --timeout=3s \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9090 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/slagboom"]
CMD ["run", "-c", "/etc/slagboom/slagboom.toml"]
