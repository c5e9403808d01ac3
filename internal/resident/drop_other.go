//go:build !linux

package resident

// DropExecutablePages does nothing where /proc/self/smaps does not exist.
func DropExecutablePages() (*Drop, error) { return &Drop{}, nil }

// Merge does nothing.
func (d *Drop) Merge() error { return nil }
