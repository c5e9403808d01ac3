//go:build tools

// Package node pins the Kubernetes node commands that the local plane's
// real node (test/plane, Options.RealNode) runs: kubelet and kube-proxy,
// from the same release (and replacements) as the control-plane commands
// of hack/tools/kube. It is a module of its own: the kubelet needs modules
// the control plane does not, and hack/plane-binaries.sh keys its cache on
// hack/tools/kube's go.mod and go.sum.
package node

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
