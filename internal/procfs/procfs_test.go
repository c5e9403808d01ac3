package procfs

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, line string
		want       time.Duration
		wantErr    bool
	}{
		// Field 2 may hold spaces and parentheses; utime=150, stime=50 ticks.
		{"name with parentheses", "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 150 50 0 0 20 0 8 0 100 1000 200\n", 2 * time.Second, false},
		{"short line", "1234 (x) S 1 2", 0, true},
		{"no name", "1234 x S 1 2", 0, true},
	} {
		got, err := parseStatCPU([]byte(tc.line))
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: parseStatCPU = %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseStatusMemory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, status string
		rss, hwm     uint64
		wantErr      bool
	}{
		{"both", "Name:\tx\nVmPeak:\t  100 kB\nVmHWM:\t    9000 kB\nVmRSS:\t    8000 kB\nThreads:\t5\n", 8000 << 10, 9000 << 10, false},
		{"none", "Name:\tetcd\n", 0, 0, true},
		{"no VmHWM", "VmRSS:\t   2048 kB\n", 0, 0, true},
		{"bad unit", "VmHWM:\t 12 MB\nVmRSS:\t 12 MB\n", 0, 0, true},
		{"bad number", "VmHWM:\t 1x kB\nVmRSS:\t 12 kB\n", 0, 0, true},
	} {
		rss, hwm, err := parseStatusMemory([]byte(tc.status))
		if rss != tc.rss || hwm != tc.hwm || (err != nil) != tc.wantErr {
			t.Errorf("%s: parseStatusMemory = %d, %d, %v; want %d, %d, error %v", tc.name, rss, hwm, err, tc.rss, tc.hwm, tc.wantErr)
		}
	}
}

func TestParseSchedstat(t *testing.T) {
	t.Parallel()
	got, err := parseSchedstat([]byte("141527297 861542085 594\n"))
	if err != nil || got != 141527297*time.Nanosecond {
		t.Errorf("got %v, %v", got, err)
	}
	if _, err := parseSchedstat([]byte("")); err == nil {
		t.Error("empty: no error")
	}
}

// The readers work on this very process.
func TestOfSelf(t *testing.T) {
	// Burn a little CPU so the counters cannot stay at zero.
	x := 0
	for i := 0; i < 5_000_000; i++ {
		x += i
	}
	_ = x
	pid := os.Getpid()
	if d, err := RunTime(pid); err != nil || d <= 0 {
		t.Errorf("RunTime = %v, %v; want > 0", d, err)
	}
	if _, err := CPUTime(pid); err != nil {
		t.Errorf("CPUTime: %v", err)
	}
	if rss, hwm, err := Memory(pid); err != nil || rss == 0 || hwm < rss {
		t.Errorf("Memory = %d, %d, %v; want 0 < rss <= hwm", rss, hwm, err)
	}
}
