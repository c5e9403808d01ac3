package peers

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func writeScript(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err == nil && strings.HasSuffix(string(b), "\n") {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

func TestExecRunnerContract(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, `cat > "$1/stdin"; echo "$PEERS|$PEER_COUNT|$SELF|$ORDINAL|$KEEP" > "$1/env"; echo to-stdout; echo to-stderr >&2`)
	var out, errOut syncBuffer
	r := &ExecRunner{Stdout: &out, Stderr: &errOut}
	t.Setenv("KEEP", "inherited")
	err := r.Run(context.Background(), Invocation{
		Name:  "on-start",
		Argv:  []string{script, dir},
		Env:   []string{"PEERS=a b", "PEER_COUNT=2", "SELF=b", "ORDINAL=1"},
		Stdin: PeerLines([]string{"a", "b"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "stdin")); string(b) != "a\nb\n" {
		t.Errorf("stdin = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "env")); string(b) != "a b|2|b|1|inherited\n" {
		t.Errorf("env = %q", b)
	}
	if out.String() != "to-stdout\n" || errOut.String() != "to-stderr\n" {
		t.Errorf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestExecRunnerExitStatus(t *testing.T) {
	r := &ExecRunner{}
	err := r.Run(context.Background(), Invocation{Name: "on-change", Argv: []string{writeScript(t, "exit 7")}})
	var se *ScriptError
	if !errors.As(err, &se) || se.ExitCode != 7 || se.Error() != "on-change exited with status 7" {
		t.Fatalf("got %v", err)
	}
	err = r.Run(context.Background(), Invocation{Name: "on-start", Argv: []string{"/nonexistent/script"}})
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("got %v", err)
	}
}

func TestExecRunnerStreamsOutput(t *testing.T) {
	var out syncBuffer
	r := &ExecRunner{Stdout: &out, Grace: 200 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(ctx, Invocation{Name: "on-start", Argv: []string{writeScript(t, "echo early; exec sleep 30")}})
	}()
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "early\n" {
		if time.Now().After(deadline) {
			t.Fatalf("output not streamed while the command runs: %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// The whole process group dies on timeout and on cancellation, also when
// the script ignores SIGTERM (SIGKILL after the grace period).
func TestExecRunnerKillsProcessGroup(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ignoreTERM bool
		cancel     bool
	}{
		{"timeout", false, false},
		{"timeout-ignores-TERM", true, false},
		{"cancel", false, true},
		{"cancel-ignores-TERM", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "child.pid")
			body := `sleep 300 & echo $! > "$1"; wait`
			if tc.ignoreTERM {
				body = "trap '' TERM\n" + body + "\nwait"
			}
			r := &ExecRunner{Grace: 300 * time.Millisecond}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if !tc.cancel {
				r.Timeout = 300 * time.Millisecond
			}
			done := make(chan error, 1)
			go func() {
				done <- r.Run(ctx, Invocation{Name: "on-change", Argv: []string{writeScript(t, body), pidFile}})
			}()
			pid := readPid(t, pidFile)
			if !alive(pid) {
				t.Fatalf("child %d not running before the kill", pid)
			}
			if tc.cancel {
				cancel()
			}
			err := <-done
			var se *ScriptError
			switch {
			case tc.cancel && !errors.Is(err, context.Canceled):
				t.Fatalf("want context.Canceled, got %v", err)
			case !tc.cancel && (!errors.As(err, &se) || !se.TimedOut):
				t.Fatalf("want timeout, got %v", err)
			}
			deadline := time.Now().Add(2 * time.Second)
			for alive(pid) {
				if time.Now().After(deadline) {
					t.Fatalf("child %d of the script survived", pid)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

func TestSplitCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"/work-dir/on-start.sh", []string{"/work-dir/on-start.sh"}, false},
		{`"/work-dir/on-start.sh"`, []string{"/work-dir/on-start.sh"}, false},
		{`  /bin/x  -a   'b c' "d \"e\" $HOME" f\ g `, []string{"/bin/x", "-a", "b c", `d "e" $HOME`, "f g"}, false},
		{`a''b ""`, []string{"ab", ""}, false},
		{`'it''s'`, []string{"its"}, false},
		{`"a\b"`, []string{`a\b`}, false},
		{"", nil, false},
		{`"open`, nil, true},
		{`'open`, nil, true},
		{`trailing\`, nil, true},
	} {
		got, err := SplitCommand(tc.in)
		if (err != nil) != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q (error %v)", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// FuzzSplitCommand: splitting never panics, and words quoted back with
// single quotes split into the same words.
func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{`/x.sh`, `"/a b" 'c' d\ e`, `a"b\"c"'d'`, `\`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitCommand(s)
		if err != nil {
			return
		}
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
		again, err := SplitCommand(strings.Join(quoted, " "))
		if err != nil || !reflect.DeepEqual(again, words) && !(len(again) == 0 && len(words) == 0) {
			t.Fatalf("%q -> %q -> %q (%v)", s, words, again, err)
		}
	})
}
