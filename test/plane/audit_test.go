package plane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditTail: each Next returns the whole lines appended since the
// last; a line still being written waits for the next call.
func TestAuditTail(t *testing.T) {
	dir := t.TempDir()
	args, log, err := AuditArgs(dir, "kind: Policy\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "--audit-log-path=" + filepath.Join(dir, "audit.log"); log != filepath.Join(dir, "audit.log") || !strings.Contains(strings.Join(args, " "), want) {
		t.Fatalf("args %v, log %s", args, log)
	}
	if policy, err := os.ReadFile(filepath.Join(dir, "audit-policy.yaml")); err != nil || string(policy) != "kind: Policy\n" {
		t.Fatalf("policy %q, %v", policy, err)
	}
	tail := &AuditTail{Path: log}
	next := func(want string) {
		t.Helper()
		got, err := tail.Next()
		if err != nil || string(got) != want {
			t.Fatalf("Next = %q, %v; want %q", got, err, want)
		}
	}
	next("") // no log yet
	appendTo := func(s string) {
		f, err := os.OpenFile(log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}
	appendTo("a\nb\npar")
	next("a\nb\n")
	next("")
	appendTo("tial\nc\n")
	next("partial\nc\n")
}
