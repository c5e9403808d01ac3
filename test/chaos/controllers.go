package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// leaseName is the Lease the kennel replicas contend for.
const leaseName = "kennel-controller"

// replica is one kennel controller process. It runs as its own user (the
// admin impersonating kennel-chaos-<name>), so that the audit log tells its
// writes apart from the other replica's.
type replica struct {
	name, user, bin, kubeconfig, logPath, ns string

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	expected bool // the harness killed it or expects it to exit
	down     bool // the harness keeps it down
	started  time.Time
	// stoppedSeen is when the supervisor first saw "Stopped leading" in
	// the log of the current start.
	stoppedSeen time.Time
}

// writeImpersonatingKubeconfig copies the admin kubeconfig with user
// impersonation.
func writeImpersonatingKubeconfig(admin, path, user string) error {
	cfg, err := clientcmd.LoadFromFile(admin)
	if err != nil {
		return err
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
		a.ImpersonateGroups = []string{"system:masters", "system:authenticated"}
	}
	return clientcmd.WriteToFile(*cfg, path)
}

func (r *replica) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "# chaos: start %s at %s\n", r.name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, "--kubeconfig="+r.kubeconfig, "--namespace="+r.ns,
		"--leader-elect=true", "--leader-elect-namespace="+r.ns, "--leader-elect-id="+leaseName,
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "-v=2")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	r.cmd, r.done, r.expected, r.started, r.stoppedSeen = cmd, done, false, time.Now(), time.Time{}
	return nil
}

func (r *replica) running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		return false
	}
	select {
	case <-r.done:
		return false
	default:
		return true
	}
}

func (r *replica) signal(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(sig)
	}
}

// kill SIGKILLs the replica, waits for its exit and keeps it down until
// release.
func (r *replica) kill() {
	r.mu.Lock()
	r.expected, r.down = true, true
	done := r.done
	r.mu.Unlock()
	r.signal(syscall.SIGKILL)
	if done != nil {
		<-done
	}
}

func (r *replica) release() {
	r.mu.Lock()
	r.down = false
	r.mu.Unlock()
}

// identity reads the replica's latest Lease identity from its log.
func (r *replica) holds(identity string) bool {
	b, err := os.ReadFile(r.logPath)
	return err == nil && identity != "" && strings.Contains(string(b), `identity="`+identity+`"`)
}

// kennelReplicas are the two kennel controller processes.
type kennelReplicas struct {
	kube kubernetes.Interface
	ns   string
	reps []*replica
}

func (k *kennelReplicas) users() []string {
	out := make([]string, len(k.reps))
	for i, r := range k.reps {
		out[i] = r.user
	}
	return out
}

// leader returns the replica that holds the Lease, and the other one.
func (k *kennelReplicas) leader(ctx context.Context) (lead, other *replica, holder string, err error) {
	lease, err := k.kube.CoordinationV1().Leases(k.ns).Get(ctx, leaseName, metav1.GetOptions{})
	if err != nil {
		return nil, nil, "", err
	}
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	for i, r := range k.reps {
		if r.holds(holder) {
			return r, k.reps[1-i], holder, nil
		}
	}
	return nil, nil, holder, fmt.Errorf("no replica holds the Lease (holder %q)", holder)
}

// waitLeader waits until a running replica holds the Lease.
func (k *kennelReplicas) waitLeader(ctx context.Context) (lead, other *replica, holder string, err error) {
	for {
		lead, other, holder, err = k.leader(ctx)
		if err == nil && lead.running() {
			return lead, other, holder, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, "", fmt.Errorf("waiting for a leader: %w (last: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (k *kennelReplicas) stop() {
	for _, r := range k.reps {
		r.mu.Lock()
		r.expected, r.down = true, true
		r.mu.Unlock()
		r.signal(syscall.SIGCONT)
		r.signal(syscall.SIGTERM)
	}
	for _, r := range k.reps {
		if r.done == nil {
			continue
		}
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			r.signal(syscall.SIGKILL)
			<-r.done
		}
	}
}

// wedged reports whether the replica has run for longer than grace since
// it logged that it stopped leading: by design it exits then (and is
// restarted to contend again); one that stays neither leads nor contends.
func (r *replica) wedged(grace time.Duration) bool {
	if !r.running() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stoppedSeen.IsZero() {
		if strings.Contains(r.currentLog(), `"Stopped leading"`) {
			r.stoppedSeen = time.Now()
		}
		return false
	}
	return time.Since(r.stoppedSeen) > grace
}

// currentLog returns the log since the replica's last start.
func (r *replica) currentLog() string {
	b, err := os.ReadFile(r.logPath)
	if err != nil {
		return ""
	}
	s := string(b)
	if i := strings.LastIndex(s, "# chaos: start "); i >= 0 {
		s = s[i:]
	}
	return s
}

// exitReport tells how a replica that exited did so: a panic in its log
// since its start, or the log's last line.
func (r *replica) exitReport() (panicked bool, last string) {
	s := r.currentLog()
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Contains(s, "panic:") || strings.Contains(s, "fatal error:"), lines[len(lines)-1]
}
