package kubectlpetset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/yaml"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// Each example's PetSet converts to a StatefulSet the API server accepts,
// and back to a PetSet equal to the example that the API server accepts.
func TestConvertRoundTripsExamples(t *testing.T) {
	e := setup(t)
	files, err := filepath.Glob(filepath.Join(framework.RepoRoot(), "examples", "*", "petset.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(filepath.Dir(file)), func(t *testing.T) {
			sts, err := e.petset("convert", "--to=statefulset", "-f", file)
			if err != nil {
				t.Fatal(err)
			}
			if out, err := e.Kubectl(sts, "-n", e.Namespace, "create", "--dry-run=server", "-f", "-"); err != nil || !strings.Contains(out, "statefulset.apps/") {
				t.Fatalf("API server refuses the StatefulSet: %v %s\n%s", err, out, sts)
			}
			back, err := e.petsetStdin(sts, "convert", "-f", "-")
			if err != nil {
				t.Fatal(err)
			}
			if out, err := e.Kubectl(back, "-n", e.Namespace, "create", "--dry-run=server", "-f", "-"); err != nil || !strings.Contains(out, "petset.kennel.dev/") {
				t.Fatalf("API server refuses the PetSet: %v %s\n%s", err, out, back)
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
				t.Fatalf("round trip changed %s:\n%s", file, back)
			}
		})
	}
}
