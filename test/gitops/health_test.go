package gitops

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Each recorded PetSet gets the health its file name says:
// testdata/<health>-<what>.json, e.g. degraded-rollout-stuck.json.
func TestHealthOfRecordedPetSets(t *testing.T) {
	script, err := ScriptFromDoc(DocPath())
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded PetSets: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := map[string]string{"healthy": Healthy, "progressing": Progressing, "degraded": Degraded, "suspended": "Suspended"}[strings.SplitN(filepath.Base(f), "-", 2)[0]]
			if want == "" {
				t.Fatalf("file name does not start with a health")
			}
			seen[want] = true
			obj := readObject(t, f)
			status, msg, err := Health(script, obj)
			if err != nil {
				t.Fatal(err)
			}
			if status != want || msg == "" {
				t.Fatalf("health %s %q, want %s with a message", status, msg, want)
			}
			t.Logf("%s: %s", status, msg)
		})
	}
	for _, h := range []string{Healthy, Progressing, Degraded} {
		if !seen[h] {
			t.Errorf("no recorded PetSet is %s", h)
		}
	}
}

// Hand-made statuses for the branches the recordings may not reach.
func TestHealthBranches(t *testing.T) {
	script, err := ScriptFromDoc(DocPath())
	if err != nil {
		t.Fatal(err)
	}
	cond := func(typ, status, reason, msg string) map[string]any {
		return map[string]any{"type": typ, "status": status, "reason": reason, "message": msg}
	}
	for _, tc := range []struct {
		name    string
		status  map[string]any
		want    string
		message string
	}{
		{name: "no status", want: Progressing, message: "Waiting for the controller to observe"},
		{name: "old generation", status: map[string]any{"observedGeneration": 1.0}, want: Progressing, message: "observe"},
		{name: "paused", status: map[string]any{"observedGeneration": 2.0, "conditions": []any{cond("Progressing", "False", "Paused", "Pet web-1 has ...")}}, want: "Suspended", message: "Paused: Pet web-1"},
		{name: "deleting", status: map[string]any{"observedGeneration": 2.0, "conditions": []any{cond("Progressing", "False", "Deleting", "PetSet is being deleted")}}, want: Progressing, message: "Deleting"},
		{name: "no conditions, rolling", status: map[string]any{"observedGeneration": 2.0, "readyReplicas": 3.0, "updatedReplicas": 1.0, "currentRevision": "a", "updateRevision": "b"}, want: Progressing, message: "Rolling update: 1 of 3 pets at revision b"},
		{name: "no conditions, pets missing", status: map[string]any{"observedGeneration": 2.0, "readyReplicas": 1.0}, want: Progressing, message: "Waiting for 2 pets to be ready"},
		{name: "no conditions, done", status: map[string]any{"observedGeneration": 2.0, "readyReplicas": 3.0, "currentRevision": "a", "updateRevision": "a"}, want: Healthy, message: "3 pets ready"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := map[string]any{"metadata": map[string]any{"name": "web", "generation": 2.0}, "spec": map[string]any{"replicas": 3.0}}
			if tc.status != nil {
				obj["status"] = tc.status
			}
			status, msg, err := Health(script, obj)
			if err != nil || status != tc.want || !strings.Contains(msg, tc.message) {
				t.Fatalf("%s %q %v, want %s %q", status, msg, err, tc.want, tc.message)
			}
		})
	}
}

func TestScriptFromDocErrors(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{
		"none.md":     "no code\n",
		"open.md":     "```lua\nreturn {}\n",
		"two.md":      "```lua\nreturn {}\n```\n```lua\nreturn {}\n```\n",
		"badlua.md":   "```lua\nreturn {\n```\n",
		"noTable.md":  "```lua\nreturn 1\n```\n",
		"badStat.md":  "```lua\nreturn {status=\"Fine\"}\n```\n",
		"missing.md?": "",
	} {
		p := filepath.Join(dir, name)
		if name != "missing.md?" {
			if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		script, err := ScriptFromDoc(p)
		if err == nil {
			_, _, err = Health(script, map[string]any{})
		}
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func readObject(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		t.Fatal(err)
	}
	return obj
}
