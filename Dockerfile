# A minimal image around a statically linked release binary (rustls, no OpenSSL).
# Build the binary first, then the image without a daemon:
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu
#   buildah bud --storage-driver vfs -t mesos-operator:dev .
FROM scratch
COPY target/x86_64-unknown-linux-gnu/release/mesos-operator /mesos-operator
USER 65532:65532
ENTRYPOINT ["/mesos-operator"]
CMD ["run"]
