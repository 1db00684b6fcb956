#!/usr/bin/env bash
# Runs a command on a fresh one-node cluster: tests/testbed's control plane with the controllers a node needs
# (deployments, replica sets, node lifecycle, service accounts and their root CA ConfigMap) and a real kubelet node
# (tests/node/with-node.sh). Opt-in (`make e2e-node`); needs root, containerd, runc and the CNI plugins.
#
#   tests/node/with-cluster.sh kubectl get nodes
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export TESTBED_CONTROLLERS="${TESTBED_CONTROLLERS:-garbagecollector,namespace,deployment-controller,replicaset-controller,node-lifecycle-controller,serviceaccount-controller,root-ca-certificate-publisher-controller}"
exec "$here/../testbed/with-control-plane.sh" "$here/with-node.sh" "$@"
