package examples_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kennel-dev/kennel/pkg/peers"
)

// rbacObject is the part of a Role or RoleBinding that grants access.
type rbacObject struct {
	Kind  string `json:"kind"`
	Rules []struct {
		APIGroups []string `json:"apiGroups"`
		Resources []string `json:"resources"`
		Verbs     []string `json:"verbs"`
	} `json:"rules"`
	RoleRef  map[string]string   `json:"roleRef"`
	Subjects []map[string]string `json:"subjects"`
}

func rbacObjects(t *testing.T, text string) map[string]rbacObject {
	t.Helper()
	out := map[string]rbacObject{}
	for _, doc := range strings.Split(text, "\n---\n") {
		var o rbacObject
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("%v in:\n%s", err, doc)
		}
		out[o.Kind] = o
	}
	return out
}

// TestPeerFinderAPIComponent: the optional component grants exactly what
// peer-finder --source=api asks for when it gets a 403.
func TestPeerFinderAPIComponent(t *testing.T) {
	b, err := os.ReadFile("components/peer-finder-api/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := rbacObjects(t, string(b))
	hint := peers.RBACHint("default", "system:serviceaccount:default:peer-finder")
	want := rbacObjects(t, hint[strings.Index(hint, "apiVersion:"):])
	for _, kind := range []string{"Role", "RoleBinding"} {
		if !reflect.DeepEqual(got[kind], want[kind]) {
			t.Errorf("%s of the component %+v differs from the one peer-finder shows %+v", kind, got[kind], want[kind])
		}
	}
	if _, ok := got["ServiceAccount"]; !ok {
		t.Error("the component has no ServiceAccount")
	}
}
