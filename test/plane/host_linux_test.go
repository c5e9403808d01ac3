package plane

import (
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestIsZombie: a child that has exited and was not waited for is a zombie
// (the host check does not count it as running); a live one is not.
func TestIsZombie(t *testing.T) {
	live := exec.Command("sleep", "30")
	if err := live.Start(); err != nil {
		t.Skipf("no sleep: %v", err)
	}
	defer func() { _ = live.Process.Kill(); _ = live.Wait() }()
	if isZombie(strconv.Itoa(live.Process.Pid)) {
		t.Fatal("a running process taken for a zombie")
	}
	dead := exec.Command("true")
	if err := dead.Start(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(dead.Process.Pid)
	deadline := time.Now().Add(5 * time.Second)
	for !isZombie(pid) {
		if time.Now().After(deadline) {
			t.Fatal("an exited, unreaped child not seen as a zombie")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = dead.Wait()
}
