# Build: docker build -t izport .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p izport && strip target/release/izport

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/izport --create-home izport
COPY --from=build /src/target/release/izport /usr/local/bin/izport
USER izport
WORKDIR /var/lib/izport
EXPOSE 8080
ENTRYPOINT ["izport"]
CMD ["serve"]
