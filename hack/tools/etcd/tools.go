//go:build tools

// Package tools pins etcd for the local control plane (test/plane). The
// binary is built from the main package at the root of go.etcd.io/etcd/server/v3.
package tools

import _ "go.etcd.io/etcd/server/v3/etcdmain"
