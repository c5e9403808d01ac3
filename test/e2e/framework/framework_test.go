package framework

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestNamespaceName(t *testing.T) {
	t.Parallel()
	tests := []string{
		"TestX",
		"TestExamplesBootstrap/nginx-master",
		strings.Repeat("TestAVeryLongName_", 10),
		"Test__---__",
	}
	seen := map[string]bool{}
	for _, name := range tests {
		ns := namespaceName(name)
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			t.Errorf("namespaceName(%q) = %q: %v", name, ns, errs)
		}
		if !strings.HasPrefix(ns, "e2e-") {
			t.Errorf("namespaceName(%q) = %q, want prefix e2e-", name, ns)
		}
		if seen[ns] {
			t.Errorf("namespaceName(%q) = %q repeats", name, ns)
		}
		seen[ns] = true
	}
	if a, b := namespaceName("TestX"), namespaceName("TestX"); a == b {
		t.Errorf("two namespaces for the same test are both %q", a)
	}
}

func TestPoll(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	flaky := errors.New("not yet")
	tests := []struct {
		name    string
		cond    func(calls int) (bool, error)
		timeout time.Duration
		wantErr string // "" for success
		wantMin int    // minimum calls
	}{
		{"true at once", func(int) (bool, error) { return true, nil }, time.Second, "", 1},
		{"true on third call", func(n int) (bool, error) { return n >= 3, nil }, 5 * time.Second, "", 3},
		{"retried error then true", func(n int) (bool, error) {
			if n < 2 {
				return false, Retry(flaky)
			}
			return true, nil
		}, 5 * time.Second, "", 2},
		{"hard error stops", func(int) (bool, error) { return false, boom }, 5 * time.Second, "waiting for thing: boom", 1},
		{"timeout reports last retried error", func(int) (bool, error) { return false, Retry(flaky) }, 50 * time.Millisecond, "last: not yet", 1},
		{"timeout without error", func(int) (bool, error) { return false, nil }, 50 * time.Millisecond, "context deadline exceeded", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			calls := 0
			err := Poll(ctx, time.Millisecond, "thing", func(context.Context) (bool, error) {
				calls++
				return tt.cond(calls)
			})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Poll: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Poll error %v, want it to contain %q", err, tt.wantErr)
			}
			if calls < tt.wantMin {
				t.Errorf("cond called %d times, want >= %d", calls, tt.wantMin)
			}
		})
	}
	if Retry(nil) != nil {
		t.Error("Retry(nil) != nil")
	}
}
