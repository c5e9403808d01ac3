package plane

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// StartProcess logs the command line and the output, and Stop ends the
// process: at SIGTERM, or with SIGKILL after the grace period when the
// process ignores SIGTERM.
func TestStartProcessStop(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		script  string
		minStop time.Duration // Stop waits at least this long
	}{
		{"exits at SIGTERM", "echo up; exec sleep 60", 0},
		{"ignores SIGTERM", "trap '' TERM; echo up; while :; do sleep 0.05; done", 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			logPath := filepath.Join(t.TempDir(), "p.log")
			p, err := StartProcess("p", "/bin/sh", []string{"-c", tc.script}, logPath)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(readLog(logPath), "\nup\n") {
				if time.Now().After(deadline) {
					t.Fatalf("no output in the log: %q", readLog(logPath))
				}
				time.Sleep(10 * time.Millisecond)
			}
			start := time.Now()
			p.Stop(300 * time.Millisecond)
			if done, _ := p.p.exited(); !done {
				t.Fatal("process still running after Stop")
			}
			if d := time.Since(start); d < tc.minStop {
				t.Errorf("Stop returned after %v, before the grace period", d)
			}
			if log := readLog(logPath); !strings.HasPrefix(log, "# /bin/sh -c ") {
				t.Errorf("log does not start with the command line: %q", log)
			}
		})
	}
}

func readLog(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
