//go:build tools

// Package node pins the Kubernetes node commands that the local plane's
// real node (test/plane, Options.RealNode) runs: kubelet and kube-proxy,
// from the same release as the control-plane commands of the parent
// module. It lives in its own directory so that hack/plane-binaries.sh,
// which keys on the parent directory's files, is not invalidated by it.
package node

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
