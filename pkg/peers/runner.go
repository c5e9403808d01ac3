package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Invocation is one run of an on-start or on-change command.
type Invocation struct {
	// Name is "on-start" or "on-change", for messages.
	Name string
	// Argv is the program and its arguments; Argv[0] is looked up in PATH
	// when it contains no slash.
	Argv []string
	// Env holds KEY=VALUE pairs added to the inherited environment.
	Env []string
	// Stdin is fed to the program's standard input.
	Stdin []byte
}

// Runner runs commands. Run returns nil only when the command exited 0. When
// ctx is cancelled the command is stopped and ctx's error is returned.
type Runner interface {
	Run(ctx context.Context, inv Invocation) error
}

// ScriptError describes a command that did not exit 0.
type ScriptError struct {
	Name     string
	ExitCode int // -1 when killed by a signal or not started
	Signal   string
	TimedOut bool
	Err      error
}

func (e *ScriptError) Error() string {
	switch {
	case e.TimedOut:
		return fmt.Sprintf("%s timed out and was killed", e.Name)
	case e.Signal != "":
		return fmt.Sprintf("%s killed by signal %s", e.Name, e.Signal)
	case e.ExitCode >= 0:
		return fmt.Sprintf("%s exited with status %d", e.Name, e.ExitCode)
	default:
		return fmt.Sprintf("%s: %v", e.Name, e.Err)
	}
}

func (e *ScriptError) Unwrap() error { return e.Err }

// ExecRunner runs commands as child processes in their own process group and
// streams their output to Stdout and Stderr as it is written. Runs must not
// overlap.
type ExecRunner struct {
	Stdout, Stderr io.Writer
	// Timeout bounds a run; 0 means no limit. On expiry the whole process
	// group gets SIGTERM, then SIGKILL after Grace.
	Timeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL (default 3s). It also
	// applies when ctx is cancelled.
	Grace time.Duration
}

// Run implements Runner.
func (r *ExecRunner) Run(ctx context.Context, inv Invocation) error {
	if len(inv.Argv) == 0 {
		return &ScriptError{Name: inv.Name, ExitCode: -1, Err: errors.New("empty command")}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	reapOrphans()
	defer reapOrphans()
	cmd := exec.Command(inv.Argv[0], inv.Argv[1:]...)
	cmd.Env = append(os.Environ(), inv.Env...)
	cmd.Stdin = bytes.NewReader(inv.Stdin)
	cmd.Stdout = orDiscard(r.Stdout)
	cmd.Stderr = orDiscard(r.Stderr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	grace := r.Grace
	if grace <= 0 {
		grace = 3 * time.Second
	}
	// Output pipes held open by orphaned grandchildren must not block Wait.
	cmd.WaitDelay = grace
	if err := cmd.Start(); err != nil {
		return &ScriptError{Name: inv.Name, ExitCode: -1, Err: err}
	}
	pgid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var timeout <-chan time.Time
	if r.Timeout > 0 {
		t := time.NewTimer(r.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err := <-done:
		return exitError(inv.Name, err)
	case <-timeout:
		stopGroup(pgid, done, grace)
		return &ScriptError{Name: inv.Name, ExitCode: -1, TimedOut: true}
	case <-ctx.Done():
		stopGroup(pgid, done, grace)
		return ctx.Err()
	}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// stopGroup sends SIGTERM to the process group, waits up to grace for the
// leader to exit and the group to empty, then sends SIGKILL to what is left.
func stopGroup(pgid int, done <-chan error, grace time.Duration) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	leaderDone := false
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			leaderDone = true
			done = nil
		case <-tick.C:
		case <-deadline.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			if !leaderDone {
				<-done
			}
			return
		}
		if leaderDone {
			reapGroup(pgid)
			if syscall.Kill(-pgid, 0) == syscall.ESRCH {
				return
			}
		}
	}
}

// reapGroup collects exited members of the process group that became our
// children (when peer-finder is PID 1 or a subreaper), so that they do not
// linger as zombies.
func reapGroup(pgid int) {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-pgid, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

// reapOrphans collects any exited child when peer-finder runs as PID 1 of
// its container, where processes that a script left behind are re-parented
// to it. It is called only between runs, when no command of ours is waited for.
func reapOrphans() {
	if os.Getpid() != 1 {
		return
	}
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

func exitError(name string, err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return &ScriptError{Name: name, ExitCode: -1, Signal: ws.Signal().String(), Err: err}
		}
		return &ScriptError{Name: name, ExitCode: ee.ExitCode(), Err: err}
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		// The command exited 0 but a child kept its output open.
		return nil
	}
	return &ScriptError{Name: name, ExitCode: -1, Err: err}
}

// SplitCommand splits a command line into words like a POSIX shell does, but
// without any expansion: whitespace separates words, single quotes keep
// everything literal, double quotes keep everything but \" \\ \$ \` literal,
// and a backslash outside quotes escapes the next character. "$" and "*" are
// ordinary characters.
func SplitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	const (
		plain = iota
		single
		double
	)
	state := plain
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch state {
		case single:
			if c == '\'' {
				state = plain
			} else {
				cur.WriteByte(c)
			}
		case double:
			switch c {
			case '"':
				state = plain
			case '\\':
				if i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
					if s[i] != '\n' {
						cur.WriteByte(s[i])
					}
				} else {
					cur.WriteByte(c)
				}
			default:
				cur.WriteByte(c)
			}
		default:
			switch c {
			case ' ', '\t', '\n', '\r':
				if inWord {
					words = append(words, cur.String())
					cur.Reset()
					inWord = false
				}
			case '\'':
				state, inWord = single, true
			case '"':
				state, inWord = double, true
			case '\\':
				if i+1 >= len(s) {
					return nil, errors.New("command ends with a backslash")
				}
				i++
				if s[i] != '\n' {
					cur.WriteByte(s[i])
					inWord = true
				}
			default:
				cur.WriteByte(c)
				inWord = true
			}
		}
	}
	if state != plain {
		return nil, errors.New("unterminated quote in command")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
