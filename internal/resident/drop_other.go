//go:build !linux

package resident

// DropExecutablePages does nothing where /proc/self/smaps does not exist.
func DropExecutablePages() (uint64, error) { return 0, nil }
