package plane

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
)

// RestartAPIServer stops kube-apiserver (SIGTERM, SIGKILL after 10s),
// leaves it stopped for down, starts it again with the same arguments and
// waits until it is ready. Clients see their connections and watches cut
// and the server unreachable meanwhile; etcd keeps the data.
func (p *Plane) RestartAPIServer(ctx context.Context, down time.Duration) error {
	p.mu.Lock()
	idx := -1
	for i, proc := range p.procs {
		if proc.name == "kube-apiserver" {
			idx = i
		}
	}
	if idx < 0 {
		p.mu.Unlock()
		return fmt.Errorf("no kube-apiserver in this plane")
	}
	old := p.procs[idx]
	p.mu.Unlock()

	old.stop(10 * time.Second)
	if err := sleep(ctx, down); err != nil {
		return err
	}
	proc, err := startProcess(old.name, old.cmd.Path, old.cmd.Args[1:], old.logPath)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.procs[idx] = proc
	p.mu.Unlock()
	adminTLS, err := rest.TLSConfigFor(p.rest)
	if err != nil {
		return err
	}
	return p.waitHTTP(ctx, proc, p.apiURL()+"/readyz", adminTLS)
}
