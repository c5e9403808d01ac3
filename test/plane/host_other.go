//go:build !linux

package plane

import (
	"context"
	"errors"
	"time"
)

// A real node needs Linux; CheckRealNode says so before any of these run.
type hostGuard struct{}

type hostNetwork struct {
	bridge, gateway string
	prefixLen       int
	dnat            []dnat
}

type dnat struct {
	proto, dst string
	port       int
	to         string
}

func acquireHostWait(context.Context, string, time.Duration, func(string, ...any)) (*hostGuard, error) {
	return nil, errors.New("a real node needs Linux")
}

func (g *hostGuard) setupNetwork(context.Context, hostNetwork) error {
	return errors.New("a real node needs Linux")
}
func (g *hostGuard) killContainers() {}
func (g *hostGuard) restore() error  { return nil }

// HostSnapshot is empty off Linux.
func HostSnapshot() map[string]string { return map[string]string{} }
