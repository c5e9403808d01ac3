// Package apitest is an in-process fake of the part of the Kubernetes API
// that peer-finder reads: list and watch of discovery.k8s.io/v1
// EndpointSlices, with resource versions, a compactable event history
// (watches from before it get 410 Gone), bookmarks, 403 answers and
// outages, on 127.0.0.1 over plain HTTP.
package apitest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/kennel-dev/kennel/pkg/peers/kubeapi"
)

// Server is a fake API server.
type Server struct {
	URL string

	srv *httptest.Server

	mu        sync.Mutex
	rv        int
	slices    map[string]kubeapi.EndpointSlice // by namespace/name
	history   []event
	oldest    int // watches from a version before this get 410
	forbidden string
	down      bool
	watchers  map[chan struct{}]bool
	changed   *sync.Cond
	lists     int
	watches   int
	token     string
}

type event struct {
	rv    int
	typ   string
	slice kubeapi.EndpointSlice
}

// Start starts a server on an ephemeral port of 127.0.0.1.
func Start() *Server { return serve(httptest.NewServer) }

// StartTLS starts a server over HTTPS with a self-signed certificate; CA
// returns it in PEM.
func StartTLS() *Server { return serve(httptest.NewTLSServer) }

// serve makes a server with an empty store and starts it with start.
func serve(start func(http.Handler) *httptest.Server) *Server {
	s := &Server{slices: map[string]kubeapi.EndpointSlice{}, watchers: map[chan struct{}]bool{}, rv: 100}
	s.changed = sync.NewCond(&s.mu)
	s.srv = start(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL
	return s
}

// CA returns the certificate of a StartTLS server in PEM.
func (s *Server) CA() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// RequireToken makes requests without "Authorization: Bearer tok" fail
// with 401; "" accepts any.
func (s *Server) RequireToken(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = tok
}

// Listen starts a server on addr (e.g. 127.0.0.1:8080).
func Listen(addr string) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return serve(func(h http.Handler) *httptest.Server {
		srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
		srv.Start()
		return srv
	}), nil
}

// Close stops the server.
func (s *Server) Close() {
	s.SetDown(true)
	s.srv.Close()
}

// WriteKubeconfig writes a kubeconfig for the server into dir and returns
// its path.
func (s *Server) WriteKubeconfig(dir string) (string, error) {
	p := filepath.Join(dir, "kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: fake
clusters:
- name: fake
  cluster: {server: %q}
users:
- name: fake
  user: {token: fake-token}
contexts:
- name: fake
  context: {cluster: fake, user: fake}
`, s.URL)
	return p, os.WriteFile(p, []byte(kc), 0o600)
}

// Config returns a configuration that reaches the server (trusting its
// certificate if it has one), with no token.
func (s *Server) Config() *kubeapi.Config {
	cfg := &kubeapi.Config{Host: s.URL, Origin: "apitest server"}
	if cert := s.srv.Certificate(); cert != nil {
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		cfg.TLS = &tls.Config{RootCAs: pool}
	}
	return cfg
}

// Apply creates or replaces a slice (matched by namespace and name).
func (s *Server) Apply(sl kubeapi.EndpointSlice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := sl.Metadata.Namespace + "/" + sl.Metadata.Name
	typ := kubeapi.Modified
	if _, ok := s.slices[key]; !ok {
		typ = kubeapi.Added
		sl.Metadata.UID = "uid-" + key
	}
	s.record(typ, key, sl)
}

// Delete removes a slice.
func (s *Server) Delete(namespace, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := namespace + "/" + name
	sl, ok := s.slices[key]
	if !ok {
		return
	}
	s.record(kubeapi.Deleted, key, sl)
}

func (s *Server) record(typ, key string, sl kubeapi.EndpointSlice) {
	s.rv++
	sl.Metadata.ResourceVersion = strconv.Itoa(s.rv)
	if typ == kubeapi.Deleted {
		delete(s.slices, key)
	} else {
		s.slices[key] = sl
	}
	s.history = append(s.history, event{rv: s.rv, typ: typ, slice: sl})
	s.changed.Broadcast()
}

// Bookmark advances the resource version, as changes to other objects do,
// and sends a BOOKMARK event with it to the open watches.
func (s *Server) Bookmark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rv++
	var sl kubeapi.EndpointSlice
	sl.Metadata.ResourceVersion = strconv.Itoa(s.rv)
	s.history = append(s.history, event{rv: s.rv, typ: kubeapi.Bookmark, slice: sl})
	s.changed.Broadcast()
}

// Compact forgets the event history: watches from any version seen so far
// get 410 Gone, as after an etcd compaction.
func (s *Server) Compact() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = nil
	s.oldest = s.rv + 1
}

// Forbid makes every request fail with 403 for user (e.g.
// "system:serviceaccount:default:web"); "" allows again.
func (s *Server) Forbid(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidden = user
}

// SetDown makes the server unreachable (connections are closed without an
// answer, open watches are cut) or reachable again.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
	if down {
		s.endWatchesLocked()
	}
}

// EndWatches ends the open watch streams cleanly, as the server does when
// a watch's timeout expires.
func (s *Server) EndWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endWatchesLocked()
}

func (s *Server) endWatchesLocked() {
	for ch := range s.watchers {
		close(ch)
		delete(s.watchers, ch)
	}
	s.changed.Broadcast()
}

// Requests returns how many list and watch requests were answered.
func (s *Server) Requests() (lists, watches int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lists, s.watches
}

// OpenWatches is the number of watch streams open now.
func (s *Server) OpenWatches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watchers)
}

func writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(kubeapi.Status{Kind: "Status", Status: "Failure", Code: code, Reason: reason, Message: msg})
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	const prefix = "/apis/discovery.k8s.io/v1/namespaces/"
	ns, rest, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, prefix), "/")
	if !strings.HasPrefix(r.URL.Path, prefix) || !ok || rest != "endpointslices" || r.Method != http.MethodGet {
		writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		return
	}
	s.mu.Lock()
	down, forbidden, token := s.down, s.forbidden, s.token
	s.mu.Unlock()
	if down {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		writeStatus(w, http.StatusServiceUnavailable, "ServiceUnavailable", "down")
		return
	}
	if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
		writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	if forbidden != "" {
		verb := "list"
		if r.URL.Query().Get("watch") != "" {
			verb = "watch"
		}
		writeStatus(w, http.StatusForbidden, "Forbidden", fmt.Sprintf(
			`endpointslices.discovery.k8s.io is forbidden: User %q cannot %s resource "endpointslices" in API group "discovery.k8s.io" in the namespace %q`,
			forbidden, verb, ns))
		return
	}
	service := strings.TrimPrefix(r.URL.Query().Get("labelSelector"), kubeapi.ServiceNameLabel+"=")
	if r.URL.Query().Get("watch") != "" {
		s.watch(w, r, ns, service)
		return
	}
	s.list(w, ns, service)
}

func matches(sl kubeapi.EndpointSlice, ns, service string) bool {
	return sl.Metadata.Namespace == ns && sl.Metadata.Labels[kubeapi.ServiceNameLabel] == service
}

func (s *Server) list(w http.ResponseWriter, ns, service string) {
	s.mu.Lock()
	s.lists++
	out := kubeapi.EndpointSliceList{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSliceList", Items: []kubeapi.EndpointSlice{}}
	out.Metadata.ResourceVersion = strconv.Itoa(s.rv)
	for _, sl := range s.slices {
		if matches(sl, ns, service) {
			out.Items = append(out.Items, sl)
		}
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request, ns, service string) {
	from, err := strconv.Atoi(r.URL.Query().Get("resourceVersion"))
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "resourceVersion required")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	s.mu.Lock()
	s.watches++
	if from+1 < s.oldest {
		s.mu.Unlock()
		_ = enc.Encode(map[string]any{"type": kubeapi.Error, "object": kubeapi.Status{Kind: "Status", Status: "Failure",
			Code: http.StatusGone, Reason: "Expired", Message: fmt.Sprintf("too old resource version: %d (%d)", from, s.oldest-1)}})
		flush()
		return
	}
	end := make(chan struct{})
	s.watchers[end] = true
	stop := context.AfterFunc(r.Context(), func() {
		s.mu.Lock()
		s.changed.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	flush()
	next := from
	for {
		var batch []event
		for _, e := range s.history {
			if e.rv > next && (e.typ == kubeapi.Bookmark || matches(e.slice, ns, service)) {
				batch = append(batch, e)
			}
		}
		if len(s.history) > 0 {
			next = max(next, s.history[len(s.history)-1].rv)
		}
		closed := isClosed(end) || r.Context().Err() != nil
		s.mu.Unlock()
		for _, e := range batch {
			if enc.Encode(map[string]any{"type": e.typ, "object": e.slice}) != nil {
				return
			}
		}
		flush()
		if closed {
			s.mu.Lock()
			delete(s.watchers, end)
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		if !isClosed(end) && r.Context().Err() == nil && (len(s.history) == 0 || s.history[len(s.history)-1].rv <= next) {
			s.changed.Wait()
		}
	}
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Slice builds an EndpointSlice of service in namespace, the way the
// EndpointSlice controller labels it, with one TCP port.
func Slice(namespace, service, name, addressType string, endpoints ...kubeapi.Endpoint) kubeapi.EndpointSlice {
	port, pname, proto := int32(80), "web", "TCP"
	return kubeapi.EndpointSlice{
		APIVersion:  "discovery.k8s.io/v1",
		Kind:        "EndpointSlice",
		Metadata:    kubeapi.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{kubeapi.ServiceNameLabel: service}},
		AddressType: addressType,
		Endpoints:   endpoints,
		Ports:       []kubeapi.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}},
	}
}

// Endpoint builds an endpoint; hostname "" leaves it unset. ready is the
// condition the controller writes: the pod's readiness, or true for a
// Service with publishNotReadyAddresses; serving is the pod's readiness.
func Endpoint(hostname string, ready, serving bool, addrs ...string) kubeapi.Endpoint {
	ep := kubeapi.Endpoint{Addresses: addrs, Conditions: kubeapi.EndpointConditions{Ready: &ready, Serving: &serving}}
	if hostname != "" {
		ep.Hostname = &hostname
	}
	return ep
}
