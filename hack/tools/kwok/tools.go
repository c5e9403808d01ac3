//go:build tools

// Package tools pins kwok, which simulates the nodes and pod lifecycles of
// the local control plane (test/plane).
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
