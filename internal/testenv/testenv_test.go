package testenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeT records what the helpers do to a test.
type fakeT struct {
	testing.TB
	skipped, failed string
	errors          []string
}

func (f *fakeT) Helper()                           {}
func (f *fakeT) Skip(args ...any)                  { f.skipped = fmt.Sprint(args...) }
func (f *fakeT) Fatalf(format string, args ...any) { f.failed = fmt.Sprintf(format, args...) }
func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func TestSkipOrFail(t *testing.T) {
	for _, tc := range []struct {
		env                string
		wantSkip, wantFail bool
	}{
		{"", true, false},
		{"0", true, false},
		{"1", false, true},
	} {
		t.Run("env="+tc.env, func(t *testing.T) {
			t.Setenv(RequiredEnv, tc.env)
			f := &fakeT{}
			SkipOrFail(f, "nginx is not installed (%s)", "hack/ensure-test-deps.sh")
			if (f.skipped != "") != tc.wantSkip || (f.failed != "") != tc.wantFail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", f.skipped, f.failed, tc.wantSkip, tc.wantFail)
			}
			if msg := f.skipped + f.failed; !strings.Contains(msg, "nginx is not installed (hack/ensure-test-deps.sh)") {
				t.Errorf("message %q lacks the reason", msg)
			}
		})
	}
}

func TestConsistently(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		period   time.Duration
		violate  func(call int, sinceStart time.Duration) bool
		cancel   bool
		wantErr  error
		minCalls int
	}{
		{name: "holds throughout", period: 100 * time.Millisecond, violate: func(int, time.Duration) bool { return false }, minCalls: 5},
		{name: "first violation ends the period", period: time.Hour, violate: func(n int, _ time.Duration) bool { return n == 3 }, wantErr: boom, minCalls: 3},
		{name: "violation at once", period: time.Hour, violate: func(n int, _ time.Duration) bool { return true }, wantErr: boom, minCalls: 1},
		{name: "violation late in the period", period: 150 * time.Millisecond, violate: func(_ int, d time.Duration) bool { return d > 100*time.Millisecond }, wantErr: boom, minCalls: 5},
		{name: "context ends first", period: time.Hour, violate: func(int, time.Duration) bool { return false }, cancel: true, wantErr: context.Canceled, minCalls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				time.AfterFunc(30*time.Millisecond, cancel)
			}
			calls, start := 0, time.Now()
			err := Consistently(ctx, tc.period, 5*time.Millisecond, func(context.Context) error {
				calls++
				if tc.violate(calls, time.Since(start)) {
					return boom
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Consistently = %v, want %v", err, tc.wantErr)
			}
			if calls < tc.minCalls {
				t.Errorf("check called %d times, want >= %d", calls, tc.minCalls)
			}
		})
	}
}

func TestWantAll(t *testing.T) {
	f := &fakeT{}
	WantAll(f, "log", "peers changed: 0 → 1\nSERVFAIL\n", "SERVFAIL", "peers changed", "NXDOMAIN", "refused")
	if len(f.errors) != 2 || !strings.Contains(f.errors[0], `log lacks "NXDOMAIN"`) || !strings.Contains(f.errors[1], `log lacks "refused"`) {
		t.Fatalf("errors %q, want one for NXDOMAIN and one for refused", f.errors)
	}
	if !strings.Contains(f.errors[0], "SERVFAIL") {
		t.Errorf("error %q does not show the text", f.errors[0])
	}
}

func TestWantError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
		ok   bool
	}{
		{name: "no error wanted, none", ok: true},
		{name: "no error wanted, one", err: errors.New("boom"), want: ""},
		{name: "error wanted, none", want: "--workers"},
		{name: "error wanted, another", err: errors.New("--qps must be positive"), want: "--workers"},
		{name: "error wanted, it", err: errors.New("--workers must be positive"), want: "--workers", ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeT{}
			if got := WantError(f, tc.err, tc.want); got != tc.ok || (len(f.errors) == 0) != tc.ok {
				t.Fatalf("WantError = %v with errors %q, want %v", got, f.errors, tc.ok)
			}
		})
	}
}
