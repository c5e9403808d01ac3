// Package sandbox runs a peer-finder under test in its own network, mount
// and UTS namespaces, with a DNS server on 127.0.0.1:53 (and, with
// Options.API, a fake Kubernetes API serving the same pets as an
// EndpointSlice on 127.0.0.1:6443) inside them, so that
// a binary that reads /etc/resolv.conf and os.Hostname (the historical
// Kubernetes peer-finder) and kennel's peer-finder see exactly the same
// environment.
//
// The harness side is Start; the inside is Run (cmd/bench-sandbox). They
// talk over the sandbox's stdin and stdout, one line per order and reply:
//
//	(start)      -> "ready PID"            the command runs as PID
//	"peers N"    -> "ok UNIXNANO"          pets 0..N-1 published (DNS and API) at UNIXNANO
//	"served"     -> "served UNIXNANO"      when the first SRV answer with the
//	                                       latest "peers" went out (0: not yet)
//	"term"       -> "exited NANOS STATUS"  SIGTERM sent, command gone NANOS later
//	"alive PID"  -> "alive yes|no"         whether PID runs (not a zombie)
//	"queries"    -> "queries UDP TCP"      DNS queries answered so far
//	(EOF)                                  kill everything left, exit
package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/kennel-dev/kennel/pkg/peers/kubeapi"
	"github.com/kennel-dev/kennel/pkg/peers/kubeapi/apitest"
)

// Options configure the inside of a sandbox.
type Options struct {
	Hostname, Service, Namespace, Domain string
	// Peers is the number of pets published at start.
	Peers int
	// Log receives the command's stdout and stderr.
	Log string
	// Command is the program to run and its arguments.
	Command []string
	// API also serves the pets as an EndpointSlice from a fake Kubernetes
	// API on APIAddr (plain HTTP; see Kubeconfig).
	API bool
}

// APIAddr is where the fake Kubernetes API listens inside the sandbox.
const APIAddr = "127.0.0.1:6443"

// Kubeconfig is a kubeconfig for the sandbox's fake API.
func Kubeconfig() string {
	return `apiVersion: v1
kind: Config
current-context: sandbox
clusters:
- name: sandbox
  cluster: {server: "http://` + APIAddr + `"}
users:
- name: sandbox
  user: {token: sandbox}
contexts:
- name: sandbox
  context: {cluster: sandbox, user: sandbox}
`
}

// slice is the EndpointSlice of pets 0..n-1, all ready, as the
// EndpointSlice controller writes it for a PetSet.
func (o Options) slice(n int) kubeapi.EndpointSlice {
	eps := make([]kubeapi.Endpoint, n)
	for i := range eps {
		eps[i] = apitest.Endpoint(fmt.Sprintf("%s-%d", o.Service, i), true, true, fmt.Sprintf("10.%d.%d.%d", 1+i>>16, (i>>8)&255, i&255))
	}
	return apitest.Slice(o.Namespace, o.Service, o.Service+"-abcde", "IPv4", eps...)
}

// Zone is the SRV name of the Service.
func (o Options) Zone() string {
	return fmt.Sprintf("%s.%s.svc.%s.", o.Service, o.Namespace, o.Domain)
}

// Target is the DNS name of pet i.
func (o Options) Target(i int) string {
	return fmt.Sprintf("%s-%d.%s", o.Service, i, o.Zone())
}

// ResolvConf is the resolv.conf a pod of the namespace gets.
func (o Options) ResolvConf() string {
	return fmt.Sprintf("nameserver 127.0.0.1\nsearch %s.svc.%s svc.%s %s\noptions ndots:5\n",
		o.Namespace, o.Domain, o.Domain, o.Domain)
}

// Run is the inside of the sandbox: it checks it is not in the host's
// network namespace, sets up loopback, DNS, resolv.conf and hostname, runs
// the command and serves orders from in until EOF.
func Run(o Options, in io.Reader, out io.Writer) error {
	if len(o.Command) == 0 {
		return errors.New("no command")
	}
	if err := checkIsolated(); err != nil {
		return err
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return fmt.Errorf("ip link set lo up: %v: %s", err, out)
	}
	if err := syscall.Sethostname([]byte(o.Hostname)); err != nil {
		return fmt.Errorf("sethostname: %w", err)
	}
	if err := mountResolvConf(o.ResolvConf()); err != nil {
		return err
	}
	// Scripts orphaned by a command that exits become our children, so
	// "alive" can report them and EOF can kill them.
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, 36 /* PR_SET_CHILD_SUBREAPER */, 1, 0); errno != 0 {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %v", errno)
	}
	srv := &server{zone: o.Zone()}
	srv.setPeers(o, o.Peers)
	stop, err := srv.listen("127.0.0.1:53")
	if err != nil {
		return err
	}
	defer stop()
	setPeers := func(n int) { srv.setPeers(o, n) }
	if o.API {
		api, err := apitest.Listen(APIAddr)
		if err != nil {
			return err
		}
		defer api.Close()
		api.Apply(o.slice(o.Peers))
		setPeers = func(n int) { api.Apply(o.slice(n)); srv.setPeers(o, n) }
	}

	logf, err := os.OpenFile(o.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(o.Command[0], o.Command[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(done) }()
	defer killAll(cmd.Process.Pid, done)

	w := bufio.NewWriter(out)
	reply := func(format string, a ...any) error {
		fmt.Fprintf(w, format+"\n", a...)
		return w.Flush()
	}
	if err := reply("ready %d", cmd.Process.Pid); err != nil {
		return err
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "peers" && len(f) == 2:
			n, err := strconv.Atoi(f[1])
			if err != nil {
				return err
			}
			setPeers(n)
			err = reply("ok %d", time.Now().UnixNano())
			if err != nil {
				return err
			}
		case f[0] == "term":
			t0 := time.Now()
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			status := "0"
			if waitErr != nil {
				status = strings.ReplaceAll(waitErr.Error(), " ", "_")
			}
			if err := reply("exited %d %s", time.Since(t0).Nanoseconds(), status); err != nil {
				return err
			}
		case f[0] == "alive" && len(f) == 2:
			pid, err := strconv.Atoi(f[1])
			if err != nil {
				return err
			}
			ans := "no"
			if Running(pid) {
				ans = "yes"
			}
			if err := reply("alive %s", ans); err != nil {
				return err
			}
		case f[0] == "served":
			if err := reply("served %d", srv.servedAt()); err != nil {
				return err
			}
		case f[0] == "queries":
			if err := reply("queries %d %d", srv.udp.Load(), srv.tcp.Load()); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown order %q", sc.Text())
		}
	}
	return sc.Err()
}

// Running reports whether pid exists and is not a zombie.
func Running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// checkIsolated refuses to run in a network namespace that has any
// interface but loopback: a new one has only "lo", the host's has more.
func checkIsolated() error {
	ifs, err := net.Interfaces()
	if err != nil {
		return err
	}
	for _, i := range ifs {
		if i.Flags&net.FlagLoopback == 0 {
			return fmt.Errorf("refusing to run in a network namespace with interface %q: start me with CLONE_NEWNET|CLONE_NEWNS|CLONE_NEWUTS (sandbox.Start)", i.Name)
		}
	}
	return nil
}

func mountResolvConf(content string) error {
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	dir, err := os.MkdirTemp("", "bench-sandbox-")
	if err != nil {
		return err
	}
	src := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(src, []byte(content), 0o644); err != nil {
		return err
	}
	if err := syscall.Mount(src, "/etc/resolv.conf", "", syscall.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount resolv.conf: %w", err)
	}
	return nil
}

// killAll kills the command and every process left as our child (scripts
// it orphaned), and reaps them.
func killAll(pid int, done <-chan struct{}) {
	_ = syscall.Kill(pid, syscall.SIGKILL)
	<-done
	for _, c := range children() {
		_ = syscall.Kill(c, syscall.SIGKILL)
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(c, &ws, 0, nil)
	}
}

func children() []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", os.Getpid(), os.Getpid()))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// server answers SRV queries for one zone; everything else is NXDOMAIN.
type server struct {
	zone     string
	mu       sync.Mutex
	targets  []string
	served   time.Time // first SRV answer with the current targets
	udp, tcp atomic.Int64
}

func (s *server) setPeers(o Options, n int) {
	t := make([]string, n)
	for i := range t {
		t[i] = o.Target(i)
	}
	s.mu.Lock()
	s.targets = t
	s.served = time.Time{}
	s.mu.Unlock()
}

func (s *server) servedAt() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.served.IsZero() {
		return 0
	}
	return s.served.UnixNano()
}

func (s *server) listen(addr string) (stop func(), err error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return nil, err
	}
	h := dns.HandlerFunc(s.handle)
	u := &dns.Server{PacketConn: pc, Handler: h}
	t := &dns.Server{Listener: l, Handler: h}
	go func() { _ = u.ActivateAndServe() }()
	go func() { _ = t.ActivateAndServe() }()
	return func() { _ = u.Shutdown(); _ = t.Shutdown() }, nil
}

func (s *server) handle(w dns.ResponseWriter, req *dns.Msg) {
	_, isUDP := w.RemoteAddr().(*net.UDPAddr)
	if isUDP {
		s.udp.Add(1)
	} else {
		s.tcp.Add(1)
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.Compress = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	if !strings.EqualFold(q.Name, s.zone) {
		m.Rcode = dns.RcodeNameError
	} else if q.Qtype == dns.TypeSRV {
		s.mu.Lock()
		for _, t := range s.targets {
			m.Answer = append(m.Answer, &dns.SRV{
				Hdr:      dns.RR_Header{Name: q.Name, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: 1},
				Priority: 0, Weight: 100, Port: 7000, Target: t,
			})
		}
		if s.served.IsZero() {
			s.served = time.Now()
		}
		s.mu.Unlock()
	}
	size := dns.MinMsgSize
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), false)
		size = max(size, int(opt.UDPSize()))
	}
	if isUDP {
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}
