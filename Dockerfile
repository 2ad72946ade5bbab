# Build: docker build -t izport .   (the first build compiles about 330 crates: minutes)
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p izport && strip target/release/izport

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/izport --create-home izport
COPY --from=build /src/target/release/izport /usr/local/bin/izport
USER izport
WORKDIR /var/lib/izport
# Inside a container the service must listen on every interface of the container to be
# reachable at all; the host decides what it publishes (docker-compose.yml: 127.0.0.1 only).
# Plain HTTP on a non-loopback address is still refused unless IZPORT_TLS_CERT and
# IZPORT_TLS_KEY are given or IZPORT_INSECURE_HTTP=true says a TLS proxy terminates TLS.
ENV IZPORT_LISTEN=0.0.0.0:8080 \
    IZPORT_SFTP_LISTEN=0.0.0.0:2222
EXPOSE 8080 2222
ENTRYPOINT ["izport"]
CMD ["serve"]
