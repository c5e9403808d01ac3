package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sandbox is a running bench-sandbox process, seen from the harness.
type Sandbox struct {
	// Pid is the command's process id (same PID namespace as the harness).
	Pid  int
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	errb *strings.Builder
}

// Start runs the bench-sandbox binary bin in new network, mount and UTS
// namespaces (needs root) with o, and waits for its command to start.
func Start(bin string, o Options) (*Sandbox, error) {
	args := []string{
		"--hostname=" + o.Hostname, "--service=" + o.Service, "--ns=" + o.Namespace,
		"--domain=" + o.Domain, "--peers=" + strconv.Itoa(o.Peers), "--log=" + o.Log,
	}
	if o.API {
		args = append(args, "--api")
	}
	args = append(args, "--")
	cmd := exec.Command(bin, append(args, o.Command...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET | syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
		Pdeathsig:  syscall.SIGKILL,
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errb := &strings.Builder{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s in new namespaces (needs root): %w", bin, err)
	}
	s := &Sandbox{cmd: cmd, in: in, out: bufio.NewScanner(out), errb: errb}
	f, err := s.read("ready", 2)
	if err != nil {
		s.Close()
		return nil, err
	}
	if s.Pid, err = strconv.Atoi(f[1]); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Sandbox) read(word string, n int) ([]string, error) {
	if !s.out.Scan() {
		_ = s.cmd.Wait()
		return nil, fmt.Errorf("sandbox ended before %q: %v %s", word, s.out.Err(), s.errb.String())
	}
	f := strings.Fields(s.out.Text())
	if len(f) != n || f[0] != word {
		return nil, fmt.Errorf("sandbox: want %q, got %q", word, s.out.Text())
	}
	return f, nil
}

func (s *Sandbox) order(line, word string, n int) ([]string, error) {
	if _, err := fmt.Fprintln(s.in, line); err != nil {
		return nil, err
	}
	return s.read(word, n)
}

// SetPeers publishes pets 0..n-1 and returns when the server switched.
func (s *Sandbox) SetPeers(n int) (time.Time, error) {
	f, err := s.order("peers "+strconv.Itoa(n), "ok", 2)
	if err != nil {
		return time.Time{}, err
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	return time.Unix(0, ns), err
}

// Served returns when the DNS server first answered with the latest
// SetPeers membership (zero: not yet).
func (s *Sandbox) Served() (time.Time, error) {
	f, err := s.order("served", "served", 2)
	if err != nil {
		return time.Time{}, err
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || ns == 0 {
		return time.Time{}, err
	}
	return time.Unix(0, ns), nil
}

// Term sends SIGTERM to the command and returns how long it took to exit
// and its exit status ("0", or the wait error with "_" for spaces).
func (s *Sandbox) Term() (time.Duration, string, error) {
	f, err := s.order("term", "exited", 3)
	if err != nil {
		return 0, "", err
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	return time.Duration(ns), f[2], err
}

// Alive reports whether pid still runs (it is checked inside the sandbox,
// where orphans of the command are reparented).
func (s *Sandbox) Alive(pid int) (bool, error) {
	f, err := s.order("alive "+strconv.Itoa(pid), "alive", 2)
	if err != nil {
		return false, err
	}
	return f[1] == "yes", nil
}

// Queries returns the DNS queries answered so far over UDP and TCP.
func (s *Sandbox) Queries() (udp, tcp int64, err error) {
	f, err := s.order("queries", "queries", 3)
	if err != nil {
		return 0, 0, err
	}
	udp, _ = strconv.ParseInt(f[1], 10, 64)
	tcp, _ = strconv.ParseInt(f[2], 10, 64)
	return udp, tcp, nil
}

// Close ends the sandbox: its command and any process the command left
// are killed.
func (s *Sandbox) Close() {
	_ = s.in.Close()
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// Log returns the command's output so far.
func Log(o Options) string {
	b, _ := os.ReadFile(o.Log)
	return string(b)
}
