# One entry point for humans and CI. `make test` is THE test command (README, .ci/run).
SHELL := /bin/bash
CARGO ?= cargo
TESTBED := tests/testbed/with-control-plane.sh
NOCOBASE := tests/nocobase/with-nocobase.sh

.PHONY: test lint crds crds-check testbed nocobase unit integration chart demo bench image e2e-node

## Everything CI checks: formatting, lints, generated files, unit + integration tests on a real control plane and a
## real NocoBase, chart.
test: lint crds-check testbed nocobase
	$(TESTBED) $(NOCOBASE) $(MAKE) --no-print-directory integration chart

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Regenerate the CRDs (charts/entramail-operator/crds/, which crds/ links to) from the Rust types.
crds:
	$(CARGO) run --locked --bin crdgen

## Fail when crds/ is stale with respect to the Rust types.
crds-check:
	$(CARGO) run --locked --bin crdgen -- --check

## Build the pinned kube-apiserver/etcd/kube-controller-manager/kubectl (cached).
testbed:
	tests/testbed/build.sh

## Install the pinned NocoBase the delivery tests run against (cached; minutes cold, instant warm).
nocobase:
	tests/nocobase/install.sh

## Unit + integration tests; needs a control plane and NocoBase (run through $(TESTBED) $(NOCOBASE), as `make test`
## does).
integration:
	$(CARGO) test --workspace --locked --no-fail-fast

## Helm lint/template/trivy/dry-run checks (helm and trivy built from pinned Go modules).
chart:
	@if [ -x tests/chart.sh ]; then tests/chart.sh; else echo "chart: tests/chart.sh not present, skipped"; fi

## Local demo: control plane + Graph emulator + a real NocoBase (installed into its cache on first use) + operator +
## examples/demo/, showing provisioning, delivery into NocoBase, rotation and the acknowledgement path live.
demo: testbed
	$(TESTBED) tests/demo.sh

## Scale benchmark (prints a table); not part of `make test`.
bench: testbed
	$(TESTBED) $(CARGO) bench --locked --bench scale

## The operator image as an OCI archive (target/image/entramail-operator-dev.oci.tar), built without a container
## engine or registry: release binary + its glibc libraries + CA bundle, UID 65532, read-only root. Load it with
## `ctr images import`, `podman load` or `docker load`. The Dockerfile stays the build for registries.
image:
	tests/node/image.sh

## Opt-in, not part of `make test` (needs root): the image above, helm install of the chart onto a real kubelet node
## (containerd) joined to the test control plane, the operator pod Ready with its Lease, upgrade, a rotation whose
## consumer is a real NocoBase pod (image from tests/node/nocobase-image.sh), uninstall.
e2e-node:
	tests/node/e2e.sh
