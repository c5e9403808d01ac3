package app

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kennel-dev/kennel/internal/testenv"
	"github.com/kennel-dev/kennel/pkg/version"
)

func parse(t *testing.T, args ...string) *Options {
	t.Helper()
	o := NewOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o
}

func TestFlagsAndDefaults(t *testing.T) {
	o := parse(t)
	if o.Workers != 4 || o.QPS != 20 || o.Burst != 30 || !o.LeaderElect || o.MetricsAddr != ":8080" || o.HealthAddr != ":8081" || o.Namespace != "" {
		t.Fatalf("defaults %+v", o)
	}
	o = parse(t, "--workers=2", "--namespace=ns", "--leader-elect=false", "--metrics-bind-address=0",
		"--kube-api-qps=5", "--kube-api-burst=7", "--leader-elect-id=x", "--leader-elect-namespace=y",
		"--leader-elect-lease-duration=30s", "-v=3")
	if o.Workers != 2 || o.Namespace != "ns" || o.LeaderElect || o.MetricsAddr != "0" || o.QPS != 5 || o.Burst != 7 ||
		o.LeaderElectID != "x" || o.LeaderElectNamespace != "y" || o.LeaseDuration != 30*time.Second {
		t.Fatalf("parsed %+v", o)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"no workers", []string{"--workers=0"}, "--workers"},
		{"zero qps", []string{"--kube-api-qps=0"}, "--kube-api-qps"},
		{"renew >= lease", []string{"--leader-elect-renew-deadline=20s"}, "retry-period"},
		{"renew >= lease ignored without election", []string{"--leader-elect=false", "--leader-elect-renew-deadline=20s"}, ""},
		{"empty id", []string{"--leader-elect-id="}, "--leader-elect-id"},
		{"profiling without metrics", []string{"--profiling", "--metrics-bind-address=0"}, "--profiling"},
		{"profiling", []string{"--profiling"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testenv.WantError(t, parse(t, tc.args...).Validate(), tc.wantErr)
		})
	}
}

func TestRunVersion(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), parse(t, "--version"), &out); err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out.String()) != version.Version {
		t.Fatalf("printed %q", out.String())
	}
}

func TestRunRejectsBadInput(t *testing.T) {
	if err := Run(context.Background(), parse(t, "--workers=0"), &bytes.Buffer{}); err == nil {
		t.Fatal("invalid options accepted")
	}
	missing := filepath.Join(t.TempDir(), "nope.kubeconfig")
	if err := Run(context.Background(), parse(t, "--kubeconfig="+missing), &bytes.Buffer{}); err == nil {
		t.Fatal("missing kubeconfig accepted")
	}
}

func TestHealthMux(t *testing.T) {
	synced := false
	mux := healthMux(func() bool { return synced }, nil)
	get := func(path string) int {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if get("/healthz") != http.StatusOK {
		t.Fatal("/healthz not ok")
	}
	if get("/readyz") != http.StatusServiceUnavailable {
		t.Fatal("/readyz ok before caches synced")
	}
	synced = true
	if get("/readyz") != http.StatusOK {
		t.Fatal("/readyz not ok after caches synced")
	}
}

// With --profiling the metrics address also serves /debug/pprof/; without
// it, not.
func TestProfilingEndpoint(t *testing.T) {
	for _, profiling := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		opts := NewOptions()
		opts.MetricsAddr, opts.HealthAddr, opts.Profiling = addr, "0", profiling
		stop, err := startServers(context.Background(), opts, prometheus.NewRegistry(), http.NotFoundHandler())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + addr + "/debug/pprof/cmdline")
		stop()
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{false: http.StatusNotFound, true: http.StatusOK}[profiling]; resp.StatusCode != want {
			t.Errorf("profiling=%v: /debug/pprof/cmdline answered %d, want %d", profiling, resp.StatusCode, want)
		}
	}
}

// The controller's clients do not ask the API server for gzip (it would
// compress the informers' watch-list streams).
func TestClientsAskForNoCompression(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]string{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked[r.URL.Path] = r.Header.Get("Accept-Encoding")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"List","apiVersion":"v1","metadata":{},"items":[]}`))
	}))
	defer srv.Close()
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: " + srv.URL + ", insecure-skip-tls-verify: true}}]\n" +
		"contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\nusers: [{name: u, user: {}}]\n"
	if err := os.WriteFile(kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	kube, kennel, err := newClients(&Options{Kubeconfig: kubeconfig, QPS: 10, Burst: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, _ = kube.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	_, _ = kennel.KennelV1().PetSets("default").List(ctx, metav1.ListOptions{})
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 {
		t.Fatalf("requests %v, want one by each client", asked)
	}
	for path, enc := range asked {
		if strings.Contains(enc, "gzip") {
			t.Errorf("%s asked for Accept-Encoding %q", path, enc)
		}
	}
}
