// Package testenv holds what kennel's test packages share below the e2e
// framework (test/e2e/framework), so that any of them can use it without an
// import cycle or a dependency on client-go:
//
//   - SkipOrFail: a missing prerequisite (plane binaries, nginx, java, …)
//     skips a test, or fails it under KENNEL_E2E_REQUIRED=1;
//   - Consistently: "nothing happens for a while", checked by polling
//     throughout the period rather than by sleeping and looking once;
//   - WantAll and WantError: the checks of a command's output and of an
//     error against an expected fragment, written once.
//
// It imports the standard library only.
package testenv

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// RequiredEnv is the environment variable that, set to 1, makes missing
// prerequisites fail tests instead of skipping them (hack/test.sh sets it
// for the full run).
const RequiredEnv = "KENNEL_E2E_REQUIRED"

// Required reports whether missing prerequisites fail tests.
func Required() bool { return os.Getenv(RequiredEnv) == "1" }

// SkipOrFail reports a missing prerequisite of t: the test fails when
// Required, else it is skipped. The message says what is missing and how to
// get it.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (%s=1: a missing prerequisite is a failure)", msg, RequiredEnv)
	} else {
		t.Skip(msg)
	}
}

// Consistently calls check at once and then every interval until d has
// passed, and returns the first error check reports, wrapped with how long
// into the period it came. It returns ctx's error if ctx ends before the
// period, and nil if check held at every call.
func Consistently(ctx context.Context, d, interval time.Duration, check func(context.Context) error) error {
	start := time.Now()
	period := time.NewTimer(d)
	defer period.Stop()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := check(ctx); err != nil {
			return fmt.Errorf("after %s of %s: %w", time.Since(start).Round(time.Millisecond), d, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s of %s: %w", time.Since(start).Round(time.Millisecond), d, ctx.Err())
		case <-period.C:
			// One last look at the end of the period.
			if err := check(ctx); err != nil {
				return fmt.Errorf("at the end of %s: %w", d, err)
			}
			return nil
		case <-tick.C:
		}
	}
}

// WantAll reports an error of t for each of wants that text lacks; what
// names the text in the message ("output", "log").
func WantAll(t testing.TB, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// WantError reports an error of t unless err is what want asks for: no
// error when want is "", else an error whose message contains want. It
// returns whether err was as wanted.
func WantError(t testing.TB, err error, want string) bool {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
		return false
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("error %v, want one containing %q", err, want)
		return false
	}
	return true
}
