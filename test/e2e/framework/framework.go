// Package framework runs kennel's end-to-end tests against a local control
// plane (package test/plane): one plane per test package, started by Main
// from TestMain, and one namespace per test.
//
//	func TestMain(m *testing.M) { os.Exit(framework.Main(m)) }
//
//	func TestX(t *testing.T) {
//		f := framework.New(t) // skips under -short or without binaries
//		...
//	}
//
// Environment:
//
//	KENNEL_PLANE_BIN       directory of the plane binaries (default: the ones
//	                       hack/plane-binaries.sh built, if complete)
//	KENNEL_E2E_REQUIRED=1  fail instead of skip when the binaries are missing
//	KENNEL_E2E_KEEP=1      keep the plane's data directory (logs) after the run
package framework

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kennel-dev/kennel/internal/testenv"
	"github.com/kennel-dev/kennel/test/plane"
)

var (
	shared     *plane.Plane
	skipReason string
)

// Main starts the shared plane, runs the tests and stops the plane. Under
// -short, or when the binaries are missing (and KENNEL_E2E_REQUIRED is not
// 1), it runs the tests without a plane, and New skips them.
func Main(m *testing.M) int { return mainWith(m, false) }

// MainRealNode is Main with a real node beside the simulated ones (package
// test/e2e/realnode): kubelet, containerd and the images of realnode.go.
// The simulated nodes are cordoned, so the tests' pods run for real. It
// skips (or fails, with KENNEL_E2E_REQUIRED=1) with the exact reason when
// this machine cannot run a real node.
func MainRealNode(m *testing.M) int { return mainWith(m, true) }

func mainWith(m *testing.M, realNode bool) int {
	flag.Parse()
	if testing.Short() {
		skipReason = "e2e test: skipped under -short"
		return m.Run()
	}
	if os.Getenv("KENNEL_PLANE_BIN") == "" {
		// Use binaries already built by hack/plane-binaries.sh, if any.
		if dir, err := cachedBinDir(); err == nil {
			os.Setenv("KENNEL_PLANE_BIN", dir)
		}
	}
	bin, err := plane.BinDirFromEnv()
	if err != nil {
		if testenv.Required() {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			return 1
		}
		skipReason = fmt.Sprintf("e2e test: no control plane binaries (%v). Get them with: export KENNEL_PLANE_BIN=$(hack/plane-binaries.sh)", err)
		fmt.Fprintln(os.Stderr, skipReason)
		return m.Run()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
	}
	opts := plane.Options{
		BinDir:   bin,
		Nodes:    3,
		Logf:     logf,
		KeepData: os.Getenv("KENNEL_E2E_KEEP") == "1",
	}
	if realNode {
		opts.ReadyTimeout = 5 * time.Minute
		if opts.RealNode, err = realNodeOptions(logf); err != nil {
			if os.Getenv("KENNEL_E2E_REQUIRED") == "1" {
				fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
				return 1
			}
			skipReason = fmt.Sprintf("e2e test: this machine cannot run a real node: %v", err)
			fmt.Fprintln(os.Stderr, skipReason)
			return m.Run()
		}
	}
	p, err := plane.Start(ctx, opts)
	removeBuiltImages() // imported by now
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: start the control plane: %v\n", err)
		return 1
	}
	shared = p
	if realNode {
		if err := cordonSimulatedNodes(ctx, p); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
			p.Stop()
			return 1
		}
	}

	// Stop the plane on Ctrl-C or SIGTERM too; Pdeathsig covers SIGKILL.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		if s, ok := <-sigs; ok {
			fmt.Fprintf(os.Stderr, "e2e: %v: stopping the control plane\n", s)
			p.Stop()
			os.Exit(130)
		}
	}()

	logRSS(p, logf, "after start")
	code := m.Run()
	signal.Stop(sigs)
	RemoveBuilt()
	logRSS(p, logf, "after the tests")
	if code != 0 {
		fmt.Fprintf(os.Stderr, "e2e: plane data (logs in %s/logs) ", p.Dir())
		if os.Getenv("KENNEL_E2E_KEEP") == "1" {
			fmt.Fprintln(os.Stderr, "kept")
		} else {
			fmt.Fprintln(os.Stderr, "removed; set KENNEL_E2E_KEEP=1 to keep it")
		}
	}
	p.Stop()
	return code
}

// Framework is one test's view of the shared plane.
type Framework struct {
	T         *testing.T
	Plane     *plane.Plane
	Client    kubernetes.Interface
	Namespace string
}

// New returns the framework for t, with a fresh namespace deleted when the
// test ends. On failure the namespace's pods, PVCs and events and the
// components' log tails are written to the test log. It skips t when there
// is no plane (-short, or no binaries).
func New(t *testing.T) *Framework {
	t.Helper()
	if shared == nil {
		if skipReason == "" {
			t.Fatal("framework.New: no plane; call framework.Main from TestMain")
		}
		t.Skip(skipReason)
	}
	f := &Framework{T: t, Plane: shared, Client: shared.Client()}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:   namespaceName(t.Name()),
		Labels: map[string]string{"kennel.dev/e2e": "true"},
	}}
	if _, err := f.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	f.Namespace = ns.Name
	t.Cleanup(func() {
		if t.Failed() {
			var b bytes.Buffer
			fmt.Fprintf(&b, "dump of namespace %s after failure:\n", f.Namespace)
			f.Plane.DumpNamespaces(&b, f.Namespace)
			f.Plane.DumpLogs(&b, plane.DumpLogLines)
			t.Log(b.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.Client.CoreV1().Namespaces().Delete(ctx, f.Namespace, metav1.DeleteOptions{}); err != nil {
			t.Logf("delete namespace %s: %v", f.Namespace, err)
		}
	})
	// Pods need the namespace's default ServiceAccount (admission).
	if err := f.WaitFor(ctx, "default ServiceAccount in "+f.Namespace, func(ctx context.Context) (bool, error) {
		_, err := f.Client.CoreV1().ServiceAccounts(f.Namespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	return f
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9-]+`)

// namespaceName derives a valid, unique namespace name from a test name.
func namespaceName(test string) string {
	base := strings.Trim(unsafeChars.ReplaceAllString(strings.ToLower(test), "-"), "-")
	if len(base) > 40 {
		base = strings.TrimRight(base[:40], "-")
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return "e2e-" + base + "-" + hex.EncodeToString(b[:])
}

// Context returns a context that ends after d or when the test ends.
func (f *Framework) Context(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(f.T.Context(), d)
	f.T.Cleanup(cancel)
	return ctx
}

// PollInterval is how often WaitFor checks its condition.
const PollInterval = 100 * time.Millisecond

// WaitFor polls cond until it returns true, returns an error, or ctx ends.
// The error names what was awaited and the last error cond returned.
func (f *Framework) WaitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	return Poll(ctx, PollInterval, what, cond)
}

// Poll calls cond every interval until it returns true or an error, or until
// ctx ends. Errors of the form Retry(err) are remembered and retried.
func Poll(ctx context.Context, interval time.Duration, what string, cond func(context.Context) (bool, error)) error {
	start := time.Now()
	var last error
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		ok, err := cond(ctx)
		if ok && err == nil {
			return nil
		}
		if err != nil {
			if r, isRetry := err.(retryError); isRetry {
				last = r.err
			} else {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w after %s (last: %v)", what, ctx.Err(), time.Since(start).Round(time.Millisecond), last)
			}
			return fmt.Errorf("waiting for %s: %w after %s", what, ctx.Err(), time.Since(start).Round(time.Millisecond))
		case <-t.C:
		}
	}
}

// Consistently fails the test at the first poll during d at which check
// reports an error: "nothing happens for a while", checked throughout the
// period rather than once after a sleep.
func (f *Framework) Consistently(d time.Duration, what string, check func(context.Context) error) {
	f.T.Helper()
	if err := testenv.Consistently(f.Context(d+30*time.Second), d, PollInterval, check); err != nil {
		f.T.Fatalf("%s: %v", what, err)
	}
}

type retryError struct{ err error }

func (r retryError) Error() string { return r.err.Error() }

// Retry marks err as transient: Poll keeps polling and reports it if time
// runs out.
func Retry(err error) error {
	if err == nil {
		return nil
	}
	return retryError{err}
}

// logRSS logs the resident memory of each component and their sum.
func logRSS(p *plane.Plane, logf func(string, ...any), when string) {
	rss, err := p.RSS()
	if err != nil {
		logf("plane: RSS %s: %v", when, err)
		return
	}
	names := make([]string, 0, len(rss))
	var total uint64
	for n, v := range rss {
		names = append(names, n)
		total += v
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, " %s=%dMiB", n, rss[n]>>20)
	}
	logf("plane: RSS %s: total %dMiB:%s", when, total>>20, b.String())
}

// cachedBinDir asks hack/plane-binaries.sh (found above the working
// directory) for the directory of already built binaries, without building.
func cachedBinDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		script := filepath.Join(dir, "hack", "plane-binaries.sh")
		if _, err := os.Stat(script); err == nil {
			out, err := exec.Command(script, "--print").Output()
			if err != nil {
				return "", err
			}
			return strings.TrimSpace(string(out)), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("hack/plane-binaries.sh not found")
		}
		dir = parent
	}
}
