# The two commands a newcomer needs:
#   make dev    build what is missing, start a local cluster, run the operator, launch the examples
#   make test   formatting, lint, unit and end-to-end tests against a local cluster
.PHONY: dev test tools cluster down crds build lint bench bench-quick bench-scaling

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
	cargo clippy --workspace --all-targets -- -D warnings

# End-to-end throughput: bare pods vs kube-scheduler vs mesos-operator on a local kwok
# cluster of its own (bench/README.md). NODES, TASKS, FRAMEWORKS, RUN_FOR, CONCURRENCY.
bench:
	bash bench/run.sh

bench-quick:
	bash bench/run.sh --quick

bench-scaling:
	bash bench/run.sh --scaling

# Regenerate crds/ and the chart's CRDs from the Rust types.
crds:
	bash hack/crds.sh
