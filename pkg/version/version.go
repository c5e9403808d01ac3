// Package version holds the version of the kennel binaries, set at build time
// with -ldflags "-X github.com/kennel-dev/kennel/pkg/version.Version=...".
package version

// Version is the kennel release or git description the binary was built from.
var Version = "dev"
