package plane

import (
	"fmt"

	"github.com/kennel-dev/kennel/internal/procfs"
)

// RSS returns the resident set size in bytes of each running component,
// read from /proc (Linux only).
func (p *Plane) RSS() (map[string]uint64, error) {
	out := map[string]uint64{}
	for name, pid := range p.Pids() {
		rss, _, err := procfs.Memory(pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = rss
	}
	return out, nil
}
