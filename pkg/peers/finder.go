package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kennel-dev/kennel/pkg/ordinal"
)

// Errors returned by Finder.Run; the CLI maps them to exit codes.
var (
	// ErrTimeout: init mode gave up waiting for this pod (and --min-peers).
	ErrTimeout = errors.New("timed out waiting for this pod to appear among its peers")
	// ErrInterrupted: init mode was stopped by a signal before on-start ran.
	ErrInterrupted = errors.New("interrupted before on-start completed")
)

// OnStartError wraps the failure of on-start in init mode.
type OnStartError struct{ Err error }

func (e *OnStartError) Error() string { return e.Err.Error() }
func (e *OnStartError) Unwrap() error { return e.Err }

// Config describes what to look up and what to run.
type Config struct {
	Service, Namespace, Domain string
	// Hostname is this pod's host name (its first DNS label).
	Hostname    string
	AddressType AddressType
	// PodIPs identify this pod with AddressIP.
	PodIPs []string
	// OnStart and OnChange are argv vectors; nil when not given. With
	// OnChange the Finder runs as a sidecar until ctx is done; without it,
	// it runs OnStart once and returns (init mode).
	OnStart, OnChange []string
	// PollInterval is the time between lookups (default 1s).
	PollInterval time.Duration
	// Timeout bounds the wait for this pod in init mode; 0 waits forever.
	Timeout time.Duration
	// Settle is how long a membership must stay unchanged before a command
	// runs (on-start included).
	Settle time.Duration
	// MinPeers is the least number of peers (this pod included) before a
	// command runs.
	MinPeers int
	// PeersFile, when set, receives each accepted membership, one per line.
	PeersFile string
	// WatchEvents delivers paths of watched files that changed; each event
	// re-runs on-change with the current membership. nil: none.
	WatchEvents <-chan string
	// WatchDebounce collects bursts of file events into one run (default 200ms).
	WatchDebounce time.Duration
	// RetryInitial and RetryMax bound the exponential backoff between
	// retries of a failed command in sidecar mode (defaults 1s and 1m).
	RetryInitial, RetryMax time.Duration
	// DiagnoseAfter is when the first "not found itself" report is printed
	// (default 10s); later reports follow with doubling intervals up to
	// DiagnoseMax (default 5m).
	DiagnoseAfter, DiagnoseMax time.Duration
	// DomainDerived is false when Domain is a fallback default, for the
	// diagnosis.
	DomainDerived bool
	// DomainFromFlag is true when --domain was given.
	DomainFromFlag bool
}

// Finder runs the discovery loop.
type Finder struct {
	Config
	// Resolver is polled every PollInterval, unless Watcher is set.
	Resolver Resolver
	// Watcher, when set, pushes the membership (the Kubernetes API source).
	Watcher Watcher
	Runner  Runner
	Clock   Clock
	// Log receives one line per event worth telling (no per-poll noise).
	Log io.Writer
	// AfterStart, when set, is called once in sidecar mode, after the
	// first script run that succeeded (on-start, or on-change when there
	// is no on-start): the end of start-up.
	AfterStart func()
}

func (c *Config) defaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.WatchDebounce <= 0 {
		c.WatchDebounce = 200 * time.Millisecond
	}
	if c.RetryInitial <= 0 {
		c.RetryInitial = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = time.Minute
	}
	if c.RetryMax < c.RetryInitial {
		c.RetryMax = c.RetryInitial
	}
	if c.DiagnoseAfter <= 0 {
		c.DiagnoseAfter = 10 * time.Second
	}
	if c.DiagnoseMax <= 0 {
		c.DiagnoseMax = 5 * time.Minute
	}
	if c.AddressType == "" {
		c.AddressType = AddressFQDN
	}
}

// loop state
type state struct {
	start time.Time

	have      bool // at least one successful lookup
	last      SRVResult
	targets   []string // normalized SRV target names, ordinal order
	cur       Membership
	changedAt time.Time
	lookupErr error
	errLogged string

	waitLogged string // membership for which "waiting for min peers/settle" was logged

	// sidecar bookkeeping
	started      bool // on-start done (or none given)
	afterStart   bool // AfterStart has run (false until a script run succeeds)
	applied      []string
	appliedValid bool
	force        bool // a watched file changed: run on-change even if unchanged
	attempt      int
	retryAt      time.Time
	written      []string
	writtenValid bool

	watchAt time.Time // debounce deadline for file events; zero: none

	nextPoll     time.Time
	missingSince time.Time // since when this pod is not a member
	everFound    bool
	nextDiag     time.Time
	diagInterval time.Duration
}

func (f *Finder) logf(format string, args ...any) {
	if f.Log == nil {
		return
	}
	fmt.Fprintf(f.Log, "peer-finder: "+format+"\n", args...)
}

// Sidecar reports whether the Finder runs until cancelled.
func (f *Finder) Sidecar() bool { return f.OnChange != nil }

// ServiceName is the name queried.
func (f *Finder) ServiceName() string { return ServiceName(f.Service, f.Namespace, f.Domain) }

// Identity is this pod's identity.
func (f *Finder) Identity() Identity {
	return Identity{FQDN: SelfFQDN(f.Hostname, f.Service, f.Namespace, f.Domain), IPs: f.PodIPs}
}

// Run watches the membership until done: it polls the Resolver, or reads
// what the Watcher pushes when one is set. Init mode returns nil after
// on-start succeeded, ErrTimeout, *OnStartError, ErrInterrupted or a
// *ForbiddenError from the Watcher. Sidecar mode returns nil when ctx is
// cancelled, or a *ForbiddenError.
func (f *Finder) Run(ctx context.Context) error {
	s := f.begin()
	var pushed <-chan Observation
	if f.Watcher != nil {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		mb := make(chan Observation, 1)
		go f.Watcher.Watch(wctx, func(o Observation) { putLatest(mb, o) })
		pushed = mb
	}
	watch := f.WatchEvents
	for {
		now := f.Clock.Now()
		if f.Watcher == nil && !now.Before(s.nextPoll) {
			f.poll(ctx, s)
			now = f.Clock.Now()
			s.nextPoll = now.Add(f.PollInterval)
		}
		if ctx.Err() != nil {
			return f.interrupted()
		}
		f.maybeDiagnose(s, now)
		if done, err := f.act(ctx, s, now); done {
			return err
		} else if err == errAgain {
			continue
		}
		timer, stop := f.Clock.NewTimer(f.nextWake(s, now))
		select {
		case <-ctx.Done():
			stop()
			return f.interrupted()
		case <-timer:
			yield()
		case o := <-pushed:
			stop()
			var fe *ForbiddenError
			if errors.As(o.Err, &fe) {
				return fe
			}
			f.record(s, o.Result, o.Err)
		case p, ok := <-watch:
			stop()
			if !ok {
				watch = nil
				continue
			}
			f.logf("watched file %s changed", p)
			s.watchAt = f.Clock.Now().Add(f.WatchDebounce)
		}
	}
}

// yield runs after each wake-up by the clock: it lets the scheduler pick
// the loop's goroutine again. A goroutine woken by a timer inherits the
// time slice its processor had before it went idle, so the runtime's
// monitor, which wakes at the same moment, finds the slice started a poll
// interval ago and interrupts the goroutine with a preemption signal
// (SIGURG) as if it had run for that long: nearly once a poll. Handling
// that signal looks up the interrupted function in the executable's
// tables (pclntab), which brought back pages of them at random and cost
// CPU. Yielding first starts a new slice. Tests replace it.
var yield = runtime.Gosched

// putLatest leaves o as the only pending observation of mb (one sender):
// the loop needs only the newest membership, and a watch never waits for a
// command to finish. A pending *ForbiddenError is never replaced.
func putLatest(mb chan Observation, o Observation) {
	for {
		select {
		case mb <- o:
			return
		default:
		}
		select {
		case old := <-mb:
			var fe *ForbiddenError
			if errors.As(old.Err, &fe) {
				o = old
			}
		default:
		}
	}
}

// begin applies defaults, logs the start and returns the loop's state.
func (f *Finder) begin() *state {
	f.defaults()
	if f.Clock == nil {
		f.Clock = RealClock{}
	}
	s := &state{start: f.Clock.Now(), started: f.OnStart == nil}
	s.nextPoll = s.start
	s.missingSince = s.start
	s.diagInterval = f.DiagnoseAfter
	s.nextDiag = s.start.Add(f.DiagnoseAfter)
	mode := "init container"
	if f.Sidecar() {
		mode = "sidecar"
	}
	verb := "looking up"
	if f.Watcher != nil {
		verb = "watching"
	}
	f.logf("%s mode: %s %s; this pod is %s", mode, verb, f.queried(), f.selfDescription())
	return s
}

// queried says where the membership comes from.
func (f *Finder) queried() string {
	if f.Watcher != nil {
		return f.Watcher.Describe()
	}
	return fmt.Sprintf("SRV %s via %s", f.ServiceName(), strings.Join(f.Resolver.Servers(), ", "))
}

// errAgain tells Run that act ran a command: look at the time again before
// waiting.
var errAgain = errors.New("again")

// act does what is due at now: in init mode finish or time out, in sidecar
// mode run on-start or on-change. done means Run returns err.
func (f *Finder) act(ctx context.Context, s *state, now time.Time) (done bool, err error) {
	ready := f.ready(s, now)
	if !f.Sidecar() {
		if ready {
			return true, f.finishInit(ctx, s)
		}
		if f.Timeout > 0 && !now.Before(s.start.Add(f.Timeout)) {
			f.diagnose(s, now)
			if s.cur.HasSelf() {
				f.logf("gave up after %v: found itself but only %d of the required %d peers", f.Timeout, len(s.cur.Peers), f.MinPeers)
			} else {
				f.logf("gave up after %v: this pod never appeared in %s", f.Timeout, f.ServiceName())
			}
			return true, ErrTimeout
		}
		return false, nil
	}
	if !s.watchAt.IsZero() && !now.Before(s.watchAt) {
		s.watchAt = time.Time{}
		if s.appliedValid {
			s.force = true
		}
	}
	due := ready && (!s.appliedValid || !Equal(s.applied, s.cur.Peers) || s.force) &&
		(s.retryAt.IsZero() || !now.Before(s.retryAt))
	if !due {
		return false, nil
	}
	if err := f.runSidecar(ctx, s); err != nil {
		return true, nil // cancelled
	}
	return false, errAgain
}

// maybeDiagnose prints the "not found itself" report when it is due.
func (f *Finder) maybeDiagnose(s *state, now time.Time) {
	if s.cur.HasSelf() || now.Before(s.nextDiag) {
		return
	}
	f.diagnose(s, now)
	s.diagInterval *= 2
	if s.diagInterval > f.DiagnoseMax {
		s.diagInterval = f.DiagnoseMax
	}
	s.nextDiag = now.Add(s.diagInterval)
}

func (f *Finder) interrupted() error {
	if f.Sidecar() {
		f.logf("stopping on signal")
		return nil
	}
	return ErrInterrupted
}

func (f *Finder) selfDescription() string {
	id := f.Identity()
	if f.AddressType == AddressIP {
		return fmt.Sprintf("%s or IP %s", id.FQDN, strings.Join(id.IPs, ", "))
	}
	return id.FQDN
}

// ready: this pod is a member, the membership is large enough and settled.
func (f *Finder) ready(s *state, now time.Time) bool {
	if !s.have || !s.cur.HasSelf() {
		return false
	}
	key := strings.Join(s.cur.Peers, " ")
	if len(s.cur.Peers) < f.MinPeers {
		if s.waitLogged != key {
			s.waitLogged = key
			f.logf("found itself; waiting for at least %d peers (have %d)", f.MinPeers, len(s.cur.Peers))
		}
		return false
	}
	if f.Settle > 0 && now.Sub(s.changedAt) < f.Settle {
		if s.waitLogged != key {
			s.waitLogged = key
			f.logf("waiting for the membership to stay unchanged for %v", f.Settle)
		}
		return false
	}
	return true
}

func (f *Finder) nextWake(s *state, now time.Time) time.Duration {
	next := s.nextPoll
	if f.Watcher != nil {
		next = now.Add(time.Hour) // woken by the Watcher
	}
	consider := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	if s.cur.HasSelf() && f.Settle > 0 {
		if t := s.changedAt.Add(f.Settle); t.After(now) {
			consider(t)
		}
	}
	consider(s.retryAt)
	consider(s.watchAt)
	if !s.cur.HasSelf() {
		consider(s.nextDiag)
	}
	if !f.Sidecar() && f.Timeout > 0 {
		consider(s.start.Add(f.Timeout))
	}
	d := next.Sub(now)
	if d < 0 {
		d = 0
	}
	return d
}

// poll does one lookup and records a changed membership.
func (f *Finder) poll(ctx context.Context, s *state) {
	res, err := f.Resolver.LookupSRV(ctx, f.ServiceName(), f.AddressType == AddressIP)
	if err != nil && ctx.Err() != nil {
		return
	}
	f.record(s, res, err)
}

// record takes one lookup's result (or failure) into the state and logs a
// changed membership. Failures of a Watcher are logged by the Watcher.
func (f *Finder) record(s *state, res SRVResult, err error) {
	if err != nil {
		s.lookupErr = err
		if f.Watcher != nil {
			return
		}
		if msg := err.Error(); msg != s.errLogged {
			s.errLogged = msg
			f.logf("lookup of %s failed (keeping the previous membership): %v", f.ServiceName(), err)
		}
		return
	}
	if s.errLogged != "" && f.Watcher == nil {
		f.logf("lookup of %s works again", f.ServiceName())
		s.errLogged = ""
	}
	s.lookupErr = nil
	m := BuildMembership(res.Targets, f.AddressType, f.Identity())
	names := make([]string, len(res.Targets))
	for i, t := range res.Targets {
		names[i] = t.Name
	}
	ordinal.Sort(names)
	first := !s.have
	s.have, s.last, s.targets = true, res, names
	if first || !Equal(m.Peers, s.cur.Peers) {
		if !first || len(m.Peers) > 0 {
			f.logf("%s", DescribeChange(s.cur.Peers, m.Peers))
		}
		if m.HasSelf() && !s.cur.HasSelf() {
			f.logf("found itself as %s after %v", m.Self, f.Clock.Now().Sub(s.missingSince).Round(time.Millisecond))
			s.everFound = true
		} else if !m.HasSelf() && s.cur.HasSelf() {
			f.logf("this pod is no longer among its peers")
			s.missingSince = f.Clock.Now()
			s.diagInterval = f.DiagnoseAfter
			s.nextDiag = s.missingSince.Add(f.DiagnoseAfter)
		}
		s.cur = m
		s.changedAt = f.Clock.Now()
		// A newer membership supersedes a pending retry.
		s.attempt = 0
		s.retryAt = time.Time{}
	}
}

func (f *Finder) env(m Membership) []string {
	ord := ""
	if _, n, ok := ordinal.Parse(firstLabel(f.Hostname)); ok {
		ord = strconv.Itoa(n)
	}
	return []string{
		"PEERS=" + strings.Join(m.Peers, " "),
		"PEER_COUNT=" + strconv.Itoa(len(m.Peers)),
		"SELF=" + m.Self,
		"ORDINAL=" + ord,
		"SERVICE=" + f.Service,
		"NAMESPACE=" + f.Namespace,
		"DOMAIN=" + f.Domain,
	}
}

func firstLabel(h string) string {
	h = normalizeName(h)
	if i := strings.IndexByte(h, '.'); i >= 0 {
		return h[:i]
	}
	return h
}

func (f *Finder) writePeers(s *state) {
	if f.PeersFile == "" || (s.writtenValid && Equal(s.written, s.cur.Peers)) {
		return
	}
	if err := WriteFileAtomic(f.PeersFile, PeerLines(s.cur.Peers), 0o644); err != nil {
		f.logf("writing %s: %v", f.PeersFile, err)
		return
	}
	s.written, s.writtenValid = append([]string(nil), s.cur.Peers...), true
}

func (f *Finder) invocation(name string, argv []string, m Membership) Invocation {
	return Invocation{Name: name, Argv: argv, Env: f.env(m), Stdin: PeerLines(m.Peers)}
}

func (f *Finder) finishInit(ctx context.Context, s *state) error {
	f.writePeers(s)
	if f.OnStart == nil {
		return nil
	}
	f.logf("running on-start with %d peers", len(s.cur.Peers))
	err := f.Runner.Run(ctx, f.invocation("on-start", f.OnStart, s.cur))
	if err == nil {
		f.logf("on-start succeeded")
		return nil
	}
	if ctx.Err() != nil {
		return ErrInterrupted
	}
	f.logf("%v", err)
	return &OnStartError{Err: err}
}

// runSidecar runs on-start (first time) or on-change. It returns an error
// only when ctx was cancelled.
func (f *Finder) runSidecar(ctx context.Context, s *state) error {
	f.writePeers(s)
	name, argv := "on-change", f.OnChange
	if !s.started {
		name, argv = "on-start", f.OnStart
	}
	reason := fmt.Sprintf("%d peers", len(s.cur.Peers))
	if s.force && s.appliedValid && Equal(s.applied, s.cur.Peers) {
		reason += ", watched file changed"
	}
	if s.attempt > 0 {
		reason += fmt.Sprintf(", retry %d", s.attempt)
	}
	f.logf("running %s (%s)", name, reason)
	peers := s.cur
	err := f.Runner.Run(ctx, f.invocation(name, argv, peers))
	if ctx.Err() != nil {
		f.logf("stopping on signal")
		return ctx.Err()
	}
	now := f.Clock.Now()
	if err != nil {
		s.attempt++
		backoff := f.RetryInitial << (s.attempt - 1)
		if backoff > f.RetryMax || backoff <= 0 {
			backoff = f.RetryMax
		}
		s.retryAt = now.Add(backoff)
		f.logf("%v; retrying in %v unless the membership changes", err, backoff)
		return nil
	}
	f.logf("%s succeeded", name)
	if !s.afterStart && f.AfterStart != nil {
		f.AfterStart()
	}
	s.afterStart = true
	s.started = true
	s.applied, s.appliedValid = append([]string(nil), peers.Peers...), true
	s.force = false
	s.attempt = 0
	s.retryAt = time.Time{}
	return nil
}

// diagnose prints what was asked, what came back, and likely causes.
func (f *Finder) diagnose(s *state, now time.Time) {
	id := f.Identity()
	var b strings.Builder
	if s.everFound {
		fmt.Fprintf(&b, "peer-finder: has not been among its peers for %v\n", now.Sub(s.missingSince).Round(time.Second))
	} else {
		fmt.Fprintf(&b, "peer-finder: has not found itself after %v\n", now.Sub(s.start).Round(time.Second))
	}
	fmt.Fprintf(&b, "  looking for: %s\n", f.selfDescription())
	fmt.Fprintf(&b, "  queried:     %s\n", f.queried())
	switch {
	case s.lookupErr != nil:
		fmt.Fprintf(&b, "  last lookup failed: %v\n", s.lookupErr)
	case !s.have:
		fmt.Fprintf(&b, "  no lookup has completed yet\n")
	case s.last.NXDomain && f.Watcher != nil:
		fmt.Fprintf(&b, "  found:       nothing (no EndpointSlice of Service %q)\n", f.Service)
	case s.last.NXDomain:
		fmt.Fprintf(&b, "  found:       nothing (NXDOMAIN from %s)\n", s.last.Server)
	default:
		fmt.Fprintf(&b, "  found:       %d peers: %s\n", len(s.targets), firstFew(s.targets, 5))
	}
	fmt.Fprintf(&b, "  likely causes:\n")
	cause := func(format string, args ...any) { fmt.Fprintf(&b, "  - "+format+"\n", args...) }
	if s.have && len(s.targets) == 0 {
		cause("no pod is published under %s: check that Service %q exists in namespace %q, is headless (clusterIP: None) and its selector matches the pods", f.ServiceName(), f.Service, f.Namespace)
	}
	cause("the Service lacks `publishNotReadyAddresses: true`: pods are then published only once Ready, and a pod waiting for peer-finder never becomes Ready")
	host := firstLabel(f.Hostname)
	if _, _, ok := ordinal.Parse(host); !ok {
		cause("the hostname %q is not <set>-<N>; if the pod's DNS name differs from its hostname, pass --hostname", host)
	}
	wantSuffix := "." + f.ServiceName()
	var sameHost, otherSuffix []string
	for _, t := range s.targets {
		if firstLabel(t) == host && t != id.FQDN {
			sameHost = append(sameHost, t)
		}
		if !strings.HasSuffix(t, wantSuffix) {
			otherSuffix = append(otherSuffix, t)
		}
	}
	if len(sameHost) > 0 {
		cause("a peer with this pod's hostname has a different name: %s (expected %s): check --domain (%s) and --ns (%s)", sameHost[0], id.FQDN, f.Domain, f.Namespace)
	}
	if len(otherSuffix) > 0 {
		cause("peers do not end in %s (e.g. %s): domain or namespace mismatch", wantSuffix, otherSuffix[0])
	}
	if !f.DomainFromFlag && !f.DomainDerived {
		cause("no cluster domain was found in the resolv.conf search line; using %q: pass --domain", f.Domain)
	}
	if f.AddressType == AddressIP {
		if len(f.PodIPs) == 0 {
			cause("--address-type=ip but this pod's IP is unknown: set --pod-ip or POD_IP (downward API status.podIP)")
		} else {
			cause("--address-type=ip matches this pod by %s: check --pod-ip / POD_IP", strings.Join(f.PodIPs, ", "))
		}
	}
	if f.Watcher != nil {
		cause("the pod has no EndpointSlice entry yet: it gets one once it is scheduled and has an IP; peer-finder is watching and sees it at once")
	} else {
		cause("DNS publication can lag by tens of seconds in some clusters; peer-finder keeps polling every %v", f.PollInterval)
	}
	if f.Log != nil {
		io.WriteString(f.Log, b.String())
	}
}
