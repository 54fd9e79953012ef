# The two commands a newcomer needs:
#   make dev    build what is missing, start a local cluster, run the operator, launch the examples
#   make test   formatting, lint, unit and end-to-end tests against a local cluster
.PHONY: dev test tools cluster down crds build lint

dev:
	bash hack/dev.sh

test:
	bash hack/test.sh

tools:
	bash hack/tools.sh

cluster: tools
	bash hack/cluster.sh up

down:
	bash hack/cluster.sh down

build:
	cargo build

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

# Regenerate crds/ and the chart's CRDs from the Rust types.
crds:
	bash hack/crds.sh
