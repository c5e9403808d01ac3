package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/kennel-dev/kennel/pkg/peers/kubeapi"
)

// SliceTargets computes what DNS publishes for a headless Service from its
// EndpointSlices, as the cluster DNS (CoreDNS) does: every endpoint whose
// ready condition is true or unknown (the EndpointSlice controller sets it
// for pods that are not ready when the Service has publishNotReadyAddresses),
// named <hostname>.<service>.<namespace>.svc.<domain>, or by its address
// with dashes (10-1-2-3) when it has no hostname. Endpoints of every slice
// are merged by name; Addrs are their addresses. The order is that of the
// names; BuildMembership sorts by ordinal.
func SliceTargets(slices []kubeapi.EndpointSlice, service, namespace, domain string) []Target {
	zone := ServiceName(service, namespace, domain)
	byName := map[string][]string{}
	for _, sl := range slices {
		if sl.AddressType != "IPv4" && sl.AddressType != "IPv6" {
			continue // FQDN slices are not published in DNS
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				host := dashedIP(a)
				if ep.Hostname != nil && *ep.Hostname != "" {
					host = *ep.Hostname
				}
				if host == "" {
					continue
				}
				n := normalizeName(host + "." + zone)
				byName[n] = append(byName[n], a)
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Target, len(names))
	for i, n := range names {
		out[i] = Target{Name: n, Addrs: sortAddrs(byName[n])}
	}
	return out
}

// dashedIP is the DNS label CoreDNS gives an endpoint without hostname.
func dashedIP(a string) string {
	ip := net.ParseIP(a)
	switch {
	case ip == nil:
		return ""
	case ip.To4() != nil:
		return strings.ReplaceAll(a, ".", "-")
	}
	s := strings.ReplaceAll(a, ":", "-")
	if strings.HasSuffix(s, "-") {
		s += "0"
	}
	return s
}

// Observation is one report of a Watcher: the current targets, or an error
// (the previous membership stays).
type Observation struct {
	Result SRVResult
	Err    error
}

// Watcher pushes membership observations instead of being polled.
type Watcher interface {
	// Watch reports observations through report until ctx is done, or
	// until a *ForbiddenError, which it reports before returning.
	Watch(ctx context.Context, report func(Observation))
	// Describe says what is watched, for logs and the diagnosis.
	Describe() string
}

// ForbiddenError is an API server's refusal to let this pod read the
// EndpointSlices. It names the Role that is missing.
type ForbiddenError struct {
	Namespace string
	// User is the identity the API server named ("" when unknown).
	User string
	Err  error
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("the API server refused to list EndpointSlices in namespace %q (%v).\n%s",
		e.Namespace, e.Err, RBACHint(e.Namespace, e.User))
}

func (e *ForbiddenError) Unwrap() error { return e.Err }

// RBACHint is the Role and RoleBinding that let user read EndpointSlices.
func RBACHint(namespace, user string) string {
	saNS, sa := namespace, "SERVICE-ACCOUNT"
	if rest, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok {
			saNS, sa = ns, name
		}
	}
	return fmt.Sprintf(`It needs get, list and watch on endpointslices (API group discovery.k8s.io) in that namespace:

apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: peer-finder
  namespace: %[1]s
rules:
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: peer-finder
  namespace: %[1]s
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: peer-finder
subjects:
- kind: ServiceAccount
  name: %[2]s
  namespace: %[3]s
`, namespace, sa, saNS)
}

// forbiddenUser extracts the user from an RBAC denial message:
// `... is forbidden: User "system:serviceaccount:ns:sa" cannot list ...`.
func forbiddenUser(msg string) string {
	_, rest, ok := strings.Cut(msg, `User "`)
	if !ok {
		return ""
	}
	user, _, _ := strings.Cut(rest, `"`)
	return user
}

// APISource watches the EndpointSlices of a Service: it lists them, then
// watches from the list's resource version, resumes a broken watch from the
// last version seen, lists again when the API answers 410 Gone, and retries
// with exponential backoff when the server cannot be reached. During an
// outage the last membership stays; the outage is logged once when it
// starts and once when it ends.
type APISource struct {
	Client                     *kubeapi.Client
	Service, Namespace, Domain string
	// RetryInitial and RetryMax bound the backoff (defaults 250ms, 30s).
	RetryInitial, RetryMax time.Duration
	Logf                   func(format string, args ...any)

	slices      map[string]kubeapi.EndpointSlice
	rv          string
	outageSince time.Time
	failures    int
	lastKey     string
	reported    bool
}

// Describe implements Watcher.
func (a *APISource) Describe() string {
	return fmt.Sprintf("EndpointSlices of Service %s in namespace %s via %s", a.Service, a.Namespace, a.Client.Server())
}

var (
	// errRelist asks the loop to list again (410 Gone).
	errRelist = errors.New("relist")
	// errWatchEnded: the server ended the watch stream normally.
	errWatchEnded = errors.New("watch ended")
)

// Watch implements Watcher.
func (a *APISource) Watch(ctx context.Context, report func(Observation)) {
	if a.RetryInitial <= 0 {
		a.RetryInitial = 250 * time.Millisecond
	}
	if a.RetryMax < a.RetryInitial {
		a.RetryMax = max(30*time.Second, a.RetryInitial)
	}
	for ctx.Err() == nil {
		began := time.Now()
		err := a.cycle(ctx, report)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errRelist):
			a.rv = ""
			continue
		case kubeapi.IsForbidden(err):
			var se *kubeapi.StatusError
			errors.As(err, &se)
			report(Observation{Err: &ForbiddenError{Namespace: a.Namespace, User: forbiddenUser(se.Message), Err: err}})
			return
		case errors.Is(err, errWatchEnded):
			// The server ended the watch: watch again from a.rv, at once
			// unless it ends watches as soon as they start.
			if time.Since(began) < time.Second && !sleep(ctx, a.RetryInitial) {
				return
			}
			continue
		}
		a.fail(err, report)
		if !sleep(ctx, a.backoff()) {
			return
		}
	}
}

// cycle lists (when there is no resource version to resume from), then
// watches until the stream ends. It returns errWatchEnded when the server
// ended the watch normally, errRelist on 410 Gone, otherwise the failure.
func (a *APISource) cycle(ctx context.Context, report func(Observation)) error {
	if a.rv == "" {
		list, err := a.Client.ListSlices(ctx, a.Namespace, a.Service)
		if err != nil {
			return err
		}
		a.slices = map[string]kubeapi.EndpointSlice{}
		for _, sl := range list.Items {
			a.slices[sl.Metadata.Name] = sl
		}
		a.rv = list.Metadata.ResourceVersion
		a.ok(report)
	}
	w, err := a.Client.WatchSlices(ctx, a.Namespace, a.Service, a.rv)
	if err != nil {
		if kubeapi.IsGone(err) {
			return errRelist
		}
		return err
	}
	defer w.Close()
	a.ok(report)
	for {
		ev, err := w.Next()
		if errors.Is(err, io.EOF) {
			return errWatchEnded
		}
		if err != nil {
			return err
		}
		switch ev.Type {
		case kubeapi.Error:
			if err := ev.Status.Err(); !kubeapi.IsGone(err) {
				return err
			}
			return errRelist
		case kubeapi.Added, kubeapi.Modified:
			a.slices[ev.Object.Metadata.Name] = ev.Object
		case kubeapi.Deleted:
			delete(a.slices, ev.Object.Metadata.Name)
		}
		if v := ev.Object.Metadata.ResourceVersion; v != "" {
			a.rv = v
		}
		if ev.Type != kubeapi.Bookmark {
			a.emit(report, false)
		}
	}
}

// ok records a successful request: an outage ends, and the current
// membership is reported.
func (a *APISource) ok(report func(Observation)) {
	recovered := !a.outageSince.IsZero()
	if recovered {
		a.logf("the API server answers again after %v; watching %s", time.Since(a.outageSince).Round(time.Millisecond), a.Describe())
		a.outageSince = time.Time{}
	}
	a.failures = 0
	a.emit(report, recovered)
}

func (a *APISource) emit(report func(Observation), force bool) {
	items := make([]kubeapi.EndpointSlice, 0, len(a.slices))
	for _, sl := range a.slices {
		items = append(items, sl)
	}
	targets := SliceTargets(items, a.Service, a.Namespace, a.Domain)
	var b strings.Builder
	for _, t := range targets {
		fmt.Fprintf(&b, "%s=%s;", t.Name, strings.Join(t.Addrs, ","))
	}
	key := b.String()
	if a.reported && !force && key == a.lastKey {
		return
	}
	a.reported, a.lastKey = true, key
	report(Observation{Result: SRVResult{Targets: targets, NXDomain: len(items) == 0, Server: a.Client.Server()}})
}

// fail starts an outage (logged and reported once) or continues one.
func (a *APISource) fail(err error, report func(Observation)) {
	a.failures++
	if !a.outageSince.IsZero() {
		return
	}
	a.outageSince = time.Now()
	a.logf("cannot watch %s (keeping the last membership until it answers again): %v", a.Describe(), err)
	report(Observation{Err: err})
}

func (a *APISource) backoff() time.Duration {
	d := a.RetryInitial
	for i := 1; i < a.failures && d < a.RetryMax; i++ {
		d *= 2
	}
	d = min(d, a.RetryMax)
	return d + rand.N(d/5+1)
}

func (a *APISource) logf(format string, args ...any) {
	if a.Logf != nil {
		a.Logf(format, args...)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
