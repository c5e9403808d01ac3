//go:build tools

// Package tools pins the linters used by hack/lint.sh.
package tools

import (
	_ "honnef.co/go/tools/cmd/staticcheck"
)
