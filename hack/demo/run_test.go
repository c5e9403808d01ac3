package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The demo's own manifests describe the same set in both kinds.
func TestReadSetDemoManifests(t *testing.T) {
	t.Parallel()
	for file, kind := range map[string]string{"manifests/petset.yaml": "PetSet", "manifests/statefulset.yaml": "StatefulSet"} {
		s, err := readSet([]string{"manifests/service.yaml", file})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if s.kind != kind || s.name != "web" || s.service != "web" || s.replicas != 3 || s.selector["app"] != "web" {
			t.Errorf("%s: %+v", file, s)
		}
	}
}

func TestReadSet(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	multi := write("multi.yaml", "kind: Service\nmetadata: {name: db}\n---\nkind: PetSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n")
	noSet := write("none.yaml", "kind: Service\nmetadata: {name: db}\n")
	noService := write("bad.yaml", "kind: StatefulSet\nmetadata: {name: db}\nspec:\n  selector: {matchLabels: {app: db}}\n")

	s, err := readSet([]string{multi})
	if err != nil {
		t.Fatal(err)
	}
	if s.kind != "PetSet" || s.name != "db" || s.replicas != 1 {
		t.Errorf("second document: %+v (replicas default 1)", s)
	}
	if _, err := readSet([]string{noSet}); err == nil || !strings.Contains(err.Error(), "no StatefulSet or PetSet") {
		t.Errorf("no set: err %v", err)
	}
	if _, err := readSet([]string{noService}); err == nil || !strings.Contains(err.Error(), "serviceName") {
		t.Errorf("set without serviceName: err %v", err)
	}
}
