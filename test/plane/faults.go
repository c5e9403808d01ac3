package plane

// Fault injection on a running plane: signal a component, restart it with
// the arguments it was started with, and find components that exited on
// their own (kube-scheduler does after etcd or API server trouble), so that
// a harness can play the part of a kubelet that restarts them.

import (
	"context"
	"crypto/tls"
	"fmt"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// Signal sends sig to a running component's process group.
func (p *Plane) Signal(component string, sig syscall.Signal) error {
	proc, err := p.proc(component)
	if err != nil {
		return err
	}
	if done, _ := proc.exited(); done {
		return fmt.Errorf("plane: %s is not running", component)
	}
	signalGroup(proc.cmd.Process.Pid, sig)
	return nil
}

// Kill sends SIGKILL to a component and waits (up to 10 seconds) until it
// has exited. Killing a component that has already exited is not an error.
func (p *Plane) Kill(component string) error {
	proc, err := p.proc(component)
	if err != nil {
		return err
	}
	if done, _ := proc.exited(); done {
		return nil
	}
	signalGroup(proc.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-proc.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("plane: %s did not exit within 10s of SIGKILL", component)
	}
}

// Restart starts a component again with the binary and arguments of its
// last start (killing it first if it still runs) and waits until it serves
// its health endpoint, if it has one, or ctx ends.
func (p *Plane) Restart(ctx context.Context, component string) error {
	if err := p.Kill(component); err != nil {
		return err
	}
	old, err := p.proc(component)
	if err != nil {
		return err
	}
	p.opts.Logf("plane: restarting %s", component)
	proc, err := startProcess(old.name, old.bin, old.args, old.logPath)
	if err != nil {
		return err
	}
	p.mu.Lock()
	for i, q := range p.procs {
		if q == old {
			p.procs[i] = proc
		}
	}
	p.mu.Unlock()
	url, tlsConfig, err := p.healthURL(component)
	if err != nil || url == "" {
		return err
	}
	return p.waitHTTP(ctx, proc, url, tlsConfig)
}

// Exited returns the names of the components that are not running.
func (p *Plane) Exited() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, proc := range p.procs {
		if done, _ := proc.exited(); done {
			out = append(out, proc.name)
		}
	}
	return out
}

// Components returns the names of the plane's components in start order.
func (p *Plane) Components() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.procs))
	for _, proc := range p.procs {
		out = append(out, proc.name)
	}
	return out
}

func (p *Plane) proc(component string) (*process, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, proc := range p.procs {
		if proc.name == component {
			return proc, nil
		}
	}
	return nil, fmt.Errorf("plane: no component %q", component)
}

// healthURL returns the endpoint that tells a component is up again; ""
// for kwok, which serves none on the plane.
func (p *Plane) healthURL(component string) (string, *tls.Config, error) {
	switch component {
	case "etcd":
		return fmt.Sprintf("http://127.0.0.1:%d/health", p.ports.etcdClient), nil, nil
	case "kube-apiserver":
		c, err := rest.TLSConfigFor(p.rest)
		return p.apiURL() + "/readyz", c, err
	case "kube-controller-manager":
		return fmt.Sprintf("https://127.0.0.1:%d/healthz", p.ports.controllerManager), insecureTLS(), nil
	case "kube-scheduler":
		return fmt.Sprintf("https://127.0.0.1:%d/healthz", p.ports.scheduler), insecureTLS(), nil
	case "coredns":
		return fmt.Sprintf("http://127.0.0.1:%d/ready", p.ports.dnsReady), nil, nil
	}
	return "", nil, nil
}
