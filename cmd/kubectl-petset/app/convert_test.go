package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

func TestConvertFile(t *testing.T) {
	f := newFixture(nil)
	out, _, err := f.run(t, "convert", "-f", "testdata/web-statefulset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/web-petset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Fatalf("output:\n%s\nwant (testdata/web-petset.yaml):\n%s", out, want)
	}
	if len(f.kube.Actions())+len(f.kennel.Actions()) != 0 {
		t.Fatal("convert talked to the cluster")
	}
}

func TestConvertStdinJSON(t *testing.T) {
	in := `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"},"spec":{"serviceName":"db","selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}`
	for _, tc := range []struct {
		name, stdin string
		args        []string
		check       func(t *testing.T, out string)
	}{
		{name: "one object", stdin: in, args: []string{"-o", "json"}, check: func(t *testing.T, out string) {
			var set kennelv1.PetSet
			if err := json.Unmarshal([]byte(out), &set); err != nil || set.Kind != "PetSet" || set.APIVersion != "kennel.dev/v1" || set.Spec.ServiceName != "db" {
				t.Fatalf("%v: %s", err, out)
			}
		}},
		{name: "two objects become a List", stdin: in + "\n" + strings.ReplaceAll(in, `"db"`, `"db2"`), args: []string{"-o", "json"}, check: func(t *testing.T, out string) {
			var list struct {
				Kind  string
				Items []kennelv1.PetSet
			}
			if err := json.Unmarshal([]byte(out), &list); err != nil || list.Kind != "List" || len(list.Items) != 2 || list.Items[1].Name != "db2" || list.Items[1].Kind != "PetSet" {
				t.Fatalf("%v: %s", err, out)
			}
		}},
		{name: "a StatefulSetList", stdin: `{"apiVersion":"apps/v1","kind":"StatefulSetList","items":[` + in + `]}`, check: func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "apiVersion: v1\nitems:") || !strings.Contains(out, "kind: PetSet") || strings.Contains(out, "StatefulSet") {
				t.Fatalf("%s", out)
			}
		}},
		{name: "a List's items", stdin: `{"apiVersion":"v1","kind":"List","items":[` + in + `]}`, check: func(t *testing.T, out string) {
			if !strings.Contains(out, "kind: List") || !strings.Contains(out, "kind: PetSet") || strings.Contains(out, "StatefulSet") {
				t.Fatalf("%s", out)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(nil)
			f.stdin = tc.stdin
			out, _, err := f.run(t, append([]string{"convert", "-f", "-"}, tc.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, out)
		})
	}
}

func TestConvertRefuses(t *testing.T) {
	sts := func(spec string) string {
		return "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: web\nspec:\n" + spec
	}
	for _, tc := range []struct {
		name, stdin string
		args        []string
		err         string
	}{
		{name: "no serviceName", stdin: "---\n" + sts("  replicas: 1\n"), err: `standard input: document 1: StatefulSet "web": spec.serviceName is empty`},
		{name: "unknown field", stdin: sts("  serviceName: web\n  replica: 2\n"), err: `unknown field "spec.replica"`},
		{name: "old apiVersion", stdin: "kind: Service\napiVersion: v1\n---\napiVersion: apps/v1beta2\nkind: StatefulSet\n", err: "document 2: apps/v1beta2 StatefulSet: only apps/v1 StatefulSet is converted"},
		{name: "name with dots", stdin: strings.Replace(sts("  serviceName: web\n"), "name: web", "name: web.v2", 1), err: `metadata.name "web.v2" is not a DNS label`},
		{name: "bad YAML", stdin: "apiVersion: [", err: "document 1"},
		{name: "no input", err: "no input: give -f FILE"},
		{name: "bad output", stdin: sts("  serviceName: web\n"), args: []string{"-o", "wide"}, err: `-o "wide": must be yaml or json`},
		{name: "reserved ordinals to StatefulSet", stdin: "apiVersion: kennel.dev/v1\nkind: PetSet\nmetadata:\n  name: web\nspec:\n  reserveOrdinals: [1]\n",
			args: []string{"--to=statefulset"}, err: "spec.reserveOrdinals has no StatefulSet equivalent"},
		{name: "missing file", args: []string{"-f", "testdata/nosuch.yaml"}, err: "nosuch.yaml: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(nil)
			f.stdin = tc.stdin
			args := []string{"convert"}
			if tc.stdin != "" {
				args = append(args, "-f", "-")
			}
			out, _, err := f.run(t, append(args, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q; output %s", err, tc.err, out)
			}
		})
	}
}

// The examples' PetSets go to StatefulSets and back unchanged.
func TestConvertRoundTripsExamples(t *testing.T) {
	files, err := filepath.Glob("../../../examples/*/petset.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(filepath.Dir(file)), func(t *testing.T) {
			f := newFixture(nil)
			sts, _, err := f.run(t, "convert", "--to=statefulset", "-f", file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(sts, "kind: StatefulSet") || strings.Contains(sts, "PetSet") {
				t.Fatalf("not a StatefulSet:\n%s", sts)
			}
			f.stdin = sts
			back, _, err := f.run(t, "convert", "-f", "-")
			if err != nil {
				t.Fatal(err)
			}
			orig, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var a, b kennelv1.PetSet
			if err := yaml.UnmarshalStrict(orig, &a); err != nil {
				t.Fatal(err)
			}
			if err := yaml.UnmarshalStrict([]byte(back), &b); err != nil {
				t.Fatal(err)
			}
			if !equality.Semantic.DeepEqual(a, b) {
				t.Fatalf("round trip changed the PetSet:\n%s", back)
			}
		})
	}
}
