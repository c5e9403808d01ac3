// Package cli is the command line of peer-finder: flag parsing compatible
// with the historical Kubernetes peer-finder, configuration checks, and the
// mapping of outcomes to exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/kennel-dev/kennel/internal/resident"
	"github.com/kennel-dev/kennel/pkg/peers"
	"github.com/kennel-dev/kennel/pkg/peers/kubeapi"
	"github.com/kennel-dev/kennel/pkg/version"
)

// Exit codes.
const (
	ExitOK          = 0 // done (init mode), stopped by a signal (sidecar), --help, --version, --install
	ExitUsage       = 1 // usage or configuration error
	ExitTimeout     = 2 // --timeout expired before this pod was found (init mode)
	ExitOnStart     = 3 // on-start failed (init mode)
	ExitInterrupted = 4 // SIGTERM/SIGINT before on-start completed (init mode)
)

// Options are the command-line flags.
type Options struct {
	OnStart, OnChange string
	Shell             bool
	Service           string
	Namespace         string
	Domain            string
	Hostname          string
	ResolvConf        string
	DNSServers        []string
	PollInterval      time.Duration
	QueryTimeout      time.Duration
	Timeout           time.Duration
	ScriptTimeout     time.Duration
	Settle            time.Duration
	MinPeers          int
	AddressType       string
	PodIPs            []string
	PeersFile         string
	Watch             []string
	Source            string
	Kubeconfig        string
	Install           string
	Version           bool
	Help              bool
}

// Env supplies the process environment; tests replace it.
type Env struct {
	Getenv   func(string) string
	Hostname func() (string, error)
	// HostIPs lists this host's addresses when --pod-ip and POD_IP are unset.
	HostIPs func() []string
	Stdout  io.Writer
	Stderr  io.Writer
	// ServiceAccountDir holds the pod's service account token and CA
	// (kubeapi.ServiceAccountDir in a pod).
	ServiceAccountDir string
	// DropStartupPages gives back the executable's pages that start-up
	// made resident (resident.DropExecutablePages); a sidecar calls it once
	// its first script run has succeeded, and calls merge a while later
	// (splitHold), when the pages its loop uses are back. nil: never.
	DropStartupPages func() (merge func() error, err error)
}

// OSEnv is the real environment.
func OSEnv(stdout, stderr io.Writer) Env {
	return Env{Getenv: os.Getenv, Hostname: os.Hostname, HostIPs: peers.HostIPs, Stdout: stdout, Stderr: stderr,
		ServiceAccountDir: kubeapi.ServiceAccountDir,
		DropStartupPages:  dropExecutablePages}
}

func dropExecutablePages() (func() error, error) {
	d, err := resident.DropExecutablePages()
	if err != nil {
		return nil, err
	}
	return d.Merge, nil
}

// splitHold is how long after the drop of start-up pages the executable's
// mappings stay split page by page: long enough for the loop to have run
// several times (5 polls, at least 10s), short enough that the kernel does
// not keep hundreds of small mappings for long.
func splitHold(poll time.Duration) time.Duration {
	return min(max(5*poll, 10*time.Second), time.Minute)
}

// afterFunc is time.AfterFunc; tests replace it.
var afterFunc = func(d time.Duration, f func()) { time.AfterFunc(d, f) }

// UsageError is a bad command line or configuration.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{Msg: fmt.Sprintf(format, args...)} }

// Main runs peer-finder and returns its exit code.
func Main(ctx context.Context, args []string, env Env) int {
	err := Run(ctx, args, env)
	code := ExitCode(err)
	var oe *peers.OnStartError
	if err != nil && !errors.As(err, &oe) { // the Finder has logged on-start's failure
		fmt.Fprintf(env.Stderr, "peer-finder: %v\n", err)
		if code == ExitUsage {
			fmt.Fprintf(env.Stderr, "Run 'peer-finder --help' for usage.\n")
		}
	}
	return code
}

// ExitCode maps Run's error to the process exit code.
func ExitCode(err error) int {
	var ue *UsageError
	var oe *peers.OnStartError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, peers.ErrTimeout):
		return ExitTimeout
	case errors.As(err, &oe):
		return ExitOnStart
	case errors.Is(err, peers.ErrInterrupted):
		return ExitInterrupted
	default:
		return ExitUsage
	}
}

// NewFlagSet defines the flags on their own FlagSet, bound to o.
func NewFlagSet(o *Options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("peer-finder", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.StringVar(&o.OnStart, "on-start", "", "command run once this pod is among its peers (init mode: then exit)")
	fs.StringVar(&o.OnChange, "on-change", "", "command run on every membership change; makes peer-finder a sidecar that runs until SIGTERM")
	fs.BoolVar(&o.Shell, "shell", false, "run --on-start/--on-change with /bin/sh -c instead of splitting them into program and arguments")
	fs.StringVar(&o.Service, "service", "", "name of the headless Service that publishes the peers (required)")
	fs.StringVar(&o.Namespace, "ns", "", "namespace of the Service and the pods (default $POD_NAMESPACE)")
	fs.StringVar(&o.Domain, "domain", "", "cluster domain (default: derived from the resolv.conf search line, else cluster.local)")
	fs.StringVar(&o.Hostname, "hostname", "", "this pod's hostname (default: the OS hostname)")
	fs.StringVar(&o.ResolvConf, "resolv-conf", "/etc/resolv.conf", "resolver configuration to read nameservers and search domains from")
	fs.StringSliceVar(&o.DNSServers, "dns-server", nil, "nameserver host[:port] to query instead of resolv.conf's (repeatable, comma-separated)")
	fs.DurationVar(&o.PollInterval, "poll-interval", time.Second, "time between DNS lookups")
	fs.DurationVar(&o.QueryTimeout, "query-timeout", 2*time.Second, "timeout of one DNS query to one server")
	fs.DurationVar(&o.Timeout, "timeout", 0, "init mode: give up (exit 2) if this pod is not found within this time; 0 waits forever")
	fs.DurationVar(&o.ScriptTimeout, "script-timeout", 0, "kill --on-start/--on-change (its whole process group) after this long; 0: no limit")
	fs.DurationVar(&o.Settle, "settle", 0, "a membership must stay unchanged this long before a command runs")
	fs.IntVar(&o.MinPeers, "min-peers", 0, "run no command until at least this many peers (this pod included) are published")
	fs.StringVar(&o.AddressType, "address-type", "fqdn", "what to report for each peer: fqdn or ip")
	fs.StringSliceVar(&o.PodIPs, "pod-ip", nil, "this pod's IP for --address-type=ip (default $POD_IP, else the host's non-loopback addresses)")
	fs.StringVar(&o.PeersFile, "peers-file", "", "write the peer list (one per line) atomically to this file on every change")
	fs.StringArrayVar(&o.Watch, "watch", nil, "sidecar: run --on-change again when this file (or directory) changes; repeatable")
	fs.StringVar(&o.Source, "source", SourceDNS, "where the membership comes from: dns (SRV polling), api (EndpointSlices from the Kubernetes API, watched) or auto (api if this pod may list EndpointSlices, else dns)")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "with --source=api|auto: kubeconfig file to reach the API with (default: the pod's service account)")
	fs.StringVar(&o.Install, "install", "", "copy this binary into DIR as peer-finder (mode 0755) and exit")
	fs.BoolVar(&o.Version, "version", false, "print the version and exit")
	fs.BoolVarP(&o.Help, "help", "h", false, "print this help and exit")
	return fs
}

const usageHead = `Usage: peer-finder --service=NAME [--ns=NAMESPACE] [--on-start=CMD] [--on-change=CMD] [flags]

Finds the pods published behind a headless Service (DNS SRV records of
<service>.<namespace>.svc.<domain>, or with --source=api the Service's
EndpointSlices, watched through the Kubernetes API) and runs commands with
that list.

Init container (no --on-change): wait until this pod is published, run
--on-start once, exit. Sidecar (--on-change): run --on-start (if given) once
this pod is published, then --on-change on every membership change, until
SIGTERM/SIGINT.

Commands get the peers on stdin (one per line, ordinal order, trailing
newline) and in the environment: PEERS, PEER_COUNT, SELF, ORDINAL, SERVICE,
NAMESPACE, DOMAIN. Single-dash long flags (-on-start=/x.sh) are accepted.

Exit codes: 0 done; 1 usage or configuration error; 2 timed out waiting for
this pod (--timeout); 3 on-start failed; 4 interrupted before on-start ran.

Flags:
`

// Usage is the full help text.
func Usage() string {
	var o Options
	return usageHead + NewFlagSet(&o).FlagUsages()
}

// NormalizeArgs rewrites the single-dash long flags accepted by Go's flag
// package ("-on-start=/x", "-service zk") into pflag's double-dash form.
// Values of flags that take one, a lone "-", single-letter flags and
// everything after "--" are left alone.
func NormalizeArgs(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			a = "-" + a
		}
		out = append(out, a)
		if strings.HasPrefix(a, "--") && len(a) > 2 && !strings.Contains(a, "=") {
			if f := fs.Lookup(a[2:]); f != nil && f.NoOptDefVal == "" && i+1 < len(args) {
				// The next argument is this flag's value, whatever it looks like.
				i++
				out = append(out, args[i])
			}
		}
	}
	return out
}

// StripQuotes removes one pair of matching literal quotes around a value,
// as left by manifests that write -on-start="/x.sh" in an args list. Quotes
// that do not enclose the whole value ("a" "b") are kept.
func StripQuotes(v string) string {
	if len(v) >= 2 {
		q := v[0]
		if (q == '"' || q == '\'') && v[len(v)-1] == q && !strings.ContainsRune(v[1:len(v)-1], rune(q)) {
			return v[1 : len(v)-1]
		}
	}
	return v
}

// Parse parses args into Options.
func Parse(args []string) (*Options, *pflag.FlagSet, error) {
	o := &Options{}
	fs := NewFlagSet(o)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	if err := fs.Parse(NormalizeArgs(fs, args)); err != nil {
		return nil, fs, usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return nil, fs, usagef("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	for _, p := range []*string{&o.OnStart, &o.OnChange, &o.Service, &o.Namespace, &o.Domain,
		&o.Hostname, &o.ResolvConf, &o.AddressType, &o.PeersFile, &o.Install, &o.Source, &o.Kubeconfig} {
		*p = StripQuotes(*p)
	}
	for _, l := range [][]string{o.DNSServers, o.PodIPs, o.Watch} {
		for i := range l {
			l[i] = StripQuotes(l[i])
		}
	}
	return o, fs, nil
}

// Run parses args, builds the Finder and runs it.
func Run(ctx context.Context, args []string, env Env) error {
	o, _, err := Parse(args)
	if err != nil {
		return err
	}
	if o.Help {
		_, err := io.WriteString(env.Stdout, Usage())
		return err
	}
	if o.Version {
		_, err := fmt.Fprintf(env.Stdout, "peer-finder %s\n", version.Version)
		return err
	}
	if o.Install != "" {
		path, err := peers.Install(o.Install)
		if err != nil {
			return fmt.Errorf("--install: %w", err)
		}
		fmt.Fprintf(env.Stderr, "peer-finder: installed %s\n", path)
		return nil
	}
	f, err := Build(ctx, o, env)
	if err != nil {
		return err
	}
	return f.Run(ctx)
}

// Build checks the options and assembles a Finder with the real resolver
// or API watcher, runner and (for --watch) file watcher.
func Build(ctx context.Context, o *Options, env Env) (*peers.Finder, error) {
	if err := validate(o, env); err != nil {
		return nil, err
	}
	cfg, err := baseConfig(o, env)
	if err != nil {
		return nil, err
	}
	f := &peers.Finder{
		Config: cfg,
		Runner: &peers.ExecRunner{Stdout: env.Stdout, Stderr: env.Stderr, Timeout: o.ScriptTimeout},
		Clock:  peers.RealClock{},
		Log:    env.Stderr,
	}
	if f.Sidecar() && env.DropStartupPages != nil {
		f.AfterStart = func() {
			merge, err := env.DropStartupPages()
			if err != nil {
				fmt.Fprintf(env.Stderr, "peer-finder: could not give back start-up memory: %v\n", err)
				return
			}
			afterFunc(splitHold(f.PollInterval), func() {
				if err := merge(); err != nil {
					fmt.Fprintf(env.Stderr, "peer-finder: could not merge the executable's mappings back: %v\n", err)
				}
			})
		}
	}
	if err := setSource(ctx, o, env, f); err != nil {
		return nil, err
	}
	if len(o.Watch) > 0 {
		events, err := peers.WatchFiles(ctx, o.Watch, func(format string, args ...any) {
			fmt.Fprintf(env.Stderr, "peer-finder: "+format+"\n", args...)
		})
		if err != nil {
			return nil, usagef("--watch: %v", err)
		}
		f.WatchEvents = events
	}
	return f, nil
}

// validate checks the flags that need no lookup, and fills --ns from
// POD_NAMESPACE.
func validate(o *Options, env Env) error {
	if o.OnStart == "" && o.OnChange == "" && o.PeersFile == "" {
		return usagef("nothing to do: give --on-start, --on-change and/or --peers-file")
	}
	if o.Service == "" {
		return usagef("--service not set: give the name of the headless Service")
	}
	if strings.Contains(o.Service, ".") {
		return usagef("--service must be the Service's name, not a DNS name: got %q", o.Service)
	}
	if o.Namespace == "" {
		o.Namespace = env.Getenv("POD_NAMESPACE")
	}
	if o.Namespace == "" {
		return usagef("--ns not set and POD_NAMESPACE is empty")
	}
	if len(o.Watch) > 0 && o.OnChange == "" {
		return usagef("--watch needs --on-change")
	}
	if o.MinPeers < 0 {
		return usagef("--min-peers must not be negative")
	}
	for name, d := range map[string]time.Duration{"--poll-interval": o.PollInterval, "--query-timeout": o.QueryTimeout} {
		if d <= 0 {
			return usagef("%s must be positive", name)
		}
	}
	for name, d := range map[string]time.Duration{"--timeout": o.Timeout, "--script-timeout": o.ScriptTimeout, "--settle": o.Settle} {
		if d < 0 {
			return usagef("%s must not be negative", name)
		}
	}
	switch o.Source {
	case SourceDNS, SourceAPI, SourceAuto:
	default:
		return usagef("--source must be dns, api or auto, got %q", o.Source)
	}
	if o.Kubeconfig != "" && o.Source == SourceDNS {
		return usagef("--kubeconfig needs --source=api or --source=auto")
	}
	return nil
}

// baseConfig derives what does not depend on the source: commands, this
// pod's identity and the loop's limits.
func baseConfig(o *Options, env Env) (peers.Config, error) {
	addrType, err := peers.ParseAddressType(o.AddressType)
	if err != nil {
		return peers.Config{}, usagef("--address-type: %v", err)
	}
	onStart, err := command("--on-start", o.OnStart, o.Shell)
	if err != nil {
		return peers.Config{}, err
	}
	onChange, err := command("--on-change", o.OnChange, o.Shell)
	if err != nil {
		return peers.Config{}, err
	}
	hostname := o.Hostname
	if hostname == "" {
		if hostname, err = env.Hostname(); err != nil || hostname == "" {
			return peers.Config{}, usagef("--hostname not set and the OS hostname is unavailable (%v)", err)
		}
	}
	podIPs, err := podIPs(o, env, addrType)
	if err != nil {
		return peers.Config{}, err
	}
	return peers.Config{
		Service:        strings.ToLower(o.Service),
		Namespace:      strings.ToLower(o.Namespace),
		Hostname:       hostname,
		AddressType:    addrType,
		PodIPs:         podIPs,
		OnStart:        onStart,
		OnChange:       onChange,
		PollInterval:   o.PollInterval,
		Timeout:        o.Timeout,
		Settle:         o.Settle,
		MinPeers:       o.MinPeers,
		PeersFile:      o.PeersFile,
		DomainFromFlag: o.Domain != "",
	}, nil
}

// podIPs are --pod-ip, else POD_IP, else (for --address-type=ip) the
// host's addresses.
func podIPs(o *Options, env Env, addrType peers.AddressType) ([]string, error) {
	ips := o.PodIPs
	if len(ips) == 0 && addrType == peers.AddressIP {
		if ip := env.Getenv("POD_IP"); ip != "" {
			ips = strings.Split(ip, ",")
		} else if env.HostIPs != nil {
			ips = env.HostIPs()
		}
	}
	for i, ip := range ips {
		ips[i] = strings.TrimSpace(ip)
		if net.ParseIP(ips[i]) == nil {
			return nil, usagef("--pod-ip: %q is not an IP address", ip)
		}
	}
	return ips, nil
}

// dnsSetup returns the nameservers (when needServers) and the cluster
// domain, reading resolv.conf for what the flags do not give.
func dnsSetup(o *Options, env Env, needServers bool) (servers []string, domain string, derived bool, err error) {
	if needServers {
		if servers, err = nameservers(o.DNSServers); err != nil {
			return nil, "", false, err
		}
	}
	domain = strings.Trim(strings.ToLower(o.Domain), ".")
	if (len(servers) > 0 || !needServers) && domain != "" {
		return servers, domain, false, nil
	}
	rcFile, err := os.Open(o.ResolvConf)
	if err != nil {
		hint := "--domain"
		if needServers {
			hint = "--dns-server and --domain"
		}
		return nil, "", false, usagef("reading %s: %v (pass %s)", o.ResolvConf, err, hint)
	}
	rc, err := peers.ParseResolvConf(rcFile)
	rcFile.Close()
	if err != nil {
		return nil, "", false, usagef("reading %s: %v", o.ResolvConf, err)
	}
	if needServers && len(servers) == 0 {
		servers = rc.Nameservers
		if len(servers) == 0 {
			return nil, "", false, usagef("no nameserver in %s: pass --dns-server", o.ResolvConf)
		}
	}
	if domain == "" {
		domain = peers.DeriveDomain(rc.Search, o.Namespace)
		derived = domain != ""
		if domain == "" {
			domain = peers.DefaultDomain
			fmt.Fprintf(env.Stderr, "peer-finder: no cluster domain in the search line of %s; using %s (pass --domain)\n", o.ResolvConf, domain)
		}
	}
	return servers, domain, derived, nil
}

// command turns a flag value into argv: split into words (quotes honoured,
// no expansion), or handed to /bin/sh -c with --shell.
func command(flag, v string, shell bool) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	if shell {
		return []string{"/bin/sh", "-c", v}, nil
	}
	argv, err := peers.SplitCommand(v)
	if err != nil {
		return nil, usagef("%s: %v", flag, err)
	}
	if len(argv) == 0 {
		return nil, usagef("%s is empty", flag)
	}
	return argv, nil
}

// nameservers turns --dns-server values into host:port addresses.
func nameservers(in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			if net.ParseIP(strings.Trim(s, "[]")) == nil {
				return nil, usagef("--dns-server: %q is not host:port or an IP address", s)
			}
			s = net.JoinHostPort(strings.Trim(s, "[]"), "53")
		}
		out = append(out, s)
	}
	return out, nil
}
