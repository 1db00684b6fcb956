//go:build tools

// Package node pins the binaries of the opt-in node test bed (tests/node): a kubelet, a kube-scheduler and a
// kube-apiserver built with its release version stamped in (helm install checks the chart's kubeVersion against it),
// from the same Kubernetes release as tests/testbed's control plane. A module of its own so tests/testbed's go.mod/go.sum
// (which `make test` builds from) never change because of it.
package node

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
