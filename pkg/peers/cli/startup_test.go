package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// A sidecar gives back its start-up pages once and merges the split
// mappings back after splitHold; init mode never does, and a failure is
// reported, not fatal.
func TestSidecarDropsStartupPages(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		dropErr   error
		mergeErr  error
		wantHook  bool
		wantMerge bool
		wantLog   string
	}{
		{"sidecar", []string{"--on-change=/bin/true"}, nil, nil, true, true, ""},
		{"sidecar, drop fails", []string{"--on-change=/bin/true"}, errors.New("madvise: EINVAL"), nil, true, false,
			"peer-finder: could not give back start-up memory: madvise: EINVAL"},
		{"sidecar, merge fails", []string{"--on-change=/bin/true"}, nil, errors.New("madvise: ENOMEM"), true, true,
			"peer-finder: could not merge the executable's mappings back: madvise: ENOMEM"},
		{"init container", []string{"--on-start=/bin/true"}, nil, nil, false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, merges := 0, 0
			var held []time.Duration
			afterFunc = func(d time.Duration, f func()) { held = append(held, d); f() }
			t.Cleanup(func() { afterFunc = func(d time.Duration, f func()) { time.AfterFunc(d, f) } })
			stderr := &strings.Builder{}
			env := Env{
				Getenv:   func(k string) string { return map[string]string{"POD_NAMESPACE": "prod"}[k] },
				Hostname: func() (string, error) { return "zk-0", nil },
				Stdout:   &strings.Builder{},
				Stderr:   stderr,
				DropStartupPages: func() (func() error, error) {
					calls++
					if tc.dropErr != nil {
						return nil, tc.dropErr
					}
					return func() error { merges++; return tc.mergeErr }, nil
				},
			}
			o, _, err := Parse(append(tc.args, "--service=zk", "--domain=c.local", "--dns-server=127.0.0.1:5353"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Build(context.Background(), o, env)
			if err != nil {
				t.Fatal(err)
			}
			if (f.AfterStart != nil) != tc.wantHook {
				t.Fatalf("AfterStart set: %v, want %v", f.AfterStart != nil, tc.wantHook)
			}
			if f.AfterStart == nil {
				return
			}
			f.AfterStart()
			if calls != 1 {
				t.Fatalf("DropStartupPages called %d times, want 1", calls)
			}
			if want := map[bool]int{true: 1}[tc.wantMerge]; merges != want || len(held) != want {
				t.Fatalf("merged %d times after %v, want %d", merges, held, want)
			}
			if tc.wantMerge && held[0] != 10*time.Second {
				t.Fatalf("merged after %v, want 10s (5 polls of 1s, at least 10s)", held[0])
			}
			if got := strings.TrimSpace(stderr.String()); got != tc.wantLog {
				t.Fatalf("stderr %q, want %q", got, tc.wantLog)
			}
		})
	}
}

func TestSplitHold(t *testing.T) {
	for poll, want := range map[time.Duration]time.Duration{
		50 * time.Millisecond: 10 * time.Second,
		time.Second:           10 * time.Second,
		5 * time.Second:       25 * time.Second,
		time.Minute:           time.Minute,
	} {
		if got := splitHold(poll); got != want {
			t.Errorf("splitHold(%v) = %v, want %v", poll, got, want)
		}
	}
}
