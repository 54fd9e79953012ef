# The mesos-operator image: one statically linked release binary (rustls, no OpenSSL, no
# shared libraries) in an otherwise empty image, running as a non-root numeric user.
# There is no shell, no package manager and nothing else to patch.
#
# Build it without a daemon with `bash hack/image.sh` (it builds the static binary, stages
# it as a one-file build context and runs buildah). By hand:
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu
#   mkdir -p /tmp/ctx && cp Dockerfile target/x86_64-unknown-linux-gnu/release/mesos-operator /tmp/ctx/
#   buildah bud --storage-driver vfs -t mesos-operator:dev /tmp/ctx
FROM scratch
ARG VERSION=dev
LABEL org.opencontainers.image.title="mesos-operator" \
      org.opencontainers.image.description="Apache Mesos' frameworks, offers, tasks and reconciliation as a Kubernetes operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY mesos-operator /mesos-operator
# 65532: the conventional "nonroot" user of distroless images; no /etc/passwd is needed.
USER 65532:65532
ENTRYPOINT ["/mesos-operator"]
CMD ["run"]
