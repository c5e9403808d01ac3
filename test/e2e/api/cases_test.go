package api

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/kennel-dev/kennel/test/e2e/api/crdcheck"
)

const (
	crdFile = "../../../deploy/crd/kennel.dev_petsets.yaml"
	// statefulSetFile is a realistic apps/v1 StatefulSet that sets every spec field.
	statefulSetFile = "../../../pkg/apis/kennel/v1/testdata/statefulset.yaml"
)

var (
	apiVersionLine = regexp.MustCompile(`(?m)^apiVersion: apps/v1$`)
	kindLine       = regexp.MustCompile(`(?m)^kind: StatefulSet$`)
)

// convertedStatefulSet returns the StatefulSet fixture turned into a PetSet
// by changing only its apiVersion and kind lines, as a manifest.
func convertedStatefulSet(t testing.TB) []byte {
	t.Helper()
	manifest, err := os.ReadFile(statefulSetFile)
	if err != nil {
		t.Fatal(err)
	}
	out := apiVersionLine.ReplaceAll(manifest, []byte("apiVersion: kennel.dev/v1"))
	out = kindLine.ReplaceAll(out, []byte("kind: PetSet"))
	if string(out) == string(manifest) {
		t.Fatal("conversion changed nothing")
	}
	return out
}

// basePetSet is the converted StatefulSet (name web, namespace dropped) as
// an unstructured object: replicas 3, ordinals.start 1, claim templates www
// and logs, selector app.kubernetes.io/name=web plus tier In (frontend, edge).
func basePetSet(t testing.TB) map[string]any {
	t.Helper()
	obj, err := crdcheck.Decode(convertedStatefulSet(t))
	if err != nil {
		t.Fatal(err)
	}
	delete(obj["metadata"].(map[string]any), "namespace")
	return obj
}

// minimalPetSet sets only the required fields.
func minimalPetSet(t testing.TB) map[string]any {
	t.Helper()
	obj, err := crdcheck.Decode([]byte(`
apiVersion: kennel.dev/v1
kind: PetSet
metadata: {name: minimal}
spec:
  selector: {matchLabels: {app: minimal}}
  serviceName: minimal
  template:
    metadata: {labels: {app: minimal}}
    spec: {containers: [{name: c, image: busybox}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// set stores v at a dot-separated path ("spec.volumeClaimTemplates.0.metadata.name"),
// creating maps on the way; a numeric step indexes a list.
func set(obj map[string]any, path string, v any) {
	steps := strings.Split(path, ".")
	var cur any = obj
	for i, s := range steps {
		last := i == len(steps)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[s] = v
				return
			}
			if _, ok := c[s]; !ok {
				c[s] = map[string]any{}
			}
			cur = c[s]
		case []any:
			var idx int
			if _, err := fmt.Sscan(s, &idx); err != nil {
				panic(fmt.Sprintf("set %s: %q is not an index", path, s))
			}
			if last {
				c[idx] = v
				return
			}
			cur = c[idx]
		default:
			panic(fmt.Sprintf("set %s: cannot step into %T at %q", path, cur, s))
		}
	}
}

// del removes the map entry at a dot-separated path.
func del(obj map[string]any, path string) {
	parent, key := obj, path
	if i := strings.LastIndex(path, "."); i >= 0 {
		parent, key = get(obj, path[:i]).(map[string]any), path[i+1:]
	}
	delete(parent, key)
}

// get returns the value at a dot-separated path, nil if there is none.
func get(obj map[string]any, path string) any {
	var cur any = obj
	for _, s := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[s]
		case []any:
			var idx int
			if _, err := fmt.Sscan(s, &idx); err != nil || idx >= len(c) {
				return nil
			}
			cur = c[idx]
		default:
			return nil
		}
	}
	return cur
}

type mutation func(obj map[string]any)

func sets(kv ...any) mutation {
	return func(obj map[string]any) {
		for i := 0; i < len(kv); i += 2 {
			set(obj, kv[i].(string), runtime.DeepCopyJSONValue(kv[i+1]))
		}
	}
}

func dels(paths ...string) mutation {
	return func(obj map[string]any) {
		for _, p := range paths {
			del(obj, p)
		}
	}
}

func both(ms ...mutation) mutation {
	return func(obj map[string]any) {
		for _, m := range ms {
			m(obj)
		}
	}
}

// A createCase is a PetSet built from the base by mutate. want is empty for
// a PetSet that must be accepted, else text that the rejection must contain
// (always naming the offending field).
type createCase struct {
	name   string
	mutate mutation
	want   string
}

var createCases = []createCase{
	{name: "converted StatefulSet", mutate: func(map[string]any) {}},
	{name: "Parallel policy", mutate: sets("spec.podManagementPolicy", "Parallel")},
	{name: "OnDelete without rollingUpdate", mutate: sets("spec.updateStrategy", map[string]any{"type": "OnDelete"})},
	{name: "maxUnavailable percent", mutate: sets("spec.updateStrategy.rollingUpdate.maxUnavailable", "50%")},
	{name: "zero replicas", mutate: sets("spec.replicas", int64(0))},
	{name: "matchExpressions NotIn Exists DoesNotExist", mutate: sets("spec.selector.matchExpressions", []any{
		map[string]any{"key": "tier", "operator": "NotIn", "values": []any{"backend"}},
		map[string]any{"key": "tier", "operator": "Exists"},
		map[string]any{"key": "canary", "operator": "DoesNotExist"},
	})},
	// 61 + "-" + "3" = 63 characters; the claim templates would be too long.
	{name: "longest name for ordinals up to 3", mutate: both(dels("spec.volumeClaimTemplates"), sets("metadata.name", strings.Repeat("a", 61)))},

	{name: "negative replicas", mutate: sets("spec.replicas", int64(-1)), want: "spec.replicas"},
	{name: "missing selector", mutate: dels("spec.selector"), want: "spec.selector: Required value"},
	{name: "empty selector", mutate: sets("spec.selector", map[string]any{}), want: "spec.selector must not be empty"},
	{name: "matchLabels not in template", mutate: sets("spec.selector.matchLabels", map[string]any{"app.kubernetes.io/name": "web", "role": "db"}), want: "spec.selector.matchLabels does not match spec.template.metadata.labels"},
	{name: "matchLabels value differs", mutate: sets("spec.template.metadata.labels", map[string]any{"app.kubernetes.io/name": "other", "tier": "frontend"}), want: "spec.selector.matchLabels does not match spec.template.metadata.labels"},
	{name: "matchExpressions In not matched", mutate: sets("spec.selector.matchExpressions.0.values", []any{"backend"}), want: "spec.selector.matchExpressions does not match spec.template.metadata.labels"},
	{name: "matchExpressions DoesNotExist not matched", mutate: sets("spec.selector.matchExpressions.0", map[string]any{"key": "tier", "operator": "DoesNotExist"}), want: "spec.selector.matchExpressions does not match"},
	{name: "missing serviceName", mutate: dels("spec.serviceName"), want: "spec.serviceName: Required value"},
	{name: "serviceName not a DNS label", mutate: sets("spec.serviceName", "Web.svc"), want: "spec.serviceName"},
	{name: "name too long for pet names", mutate: both(dels("spec.volumeClaimTemplates"), sets("metadata.name", strings.Repeat("a", 62))), want: "metadata.name is too long: the pet name"},
	{name: "name too long with more replicas", mutate: both(dels("spec.volumeClaimTemplates"), sets("metadata.name", strings.Repeat("a", 61), "spec.replicas", int64(10))), want: "metadata.name is too long: the pet name"},
	{name: "name with a dot", mutate: sets("metadata.name", "web.v1"), want: "metadata.name must be a DNS label"},
	// www-<58 a>-3: 3+1+58+1+1 = 64 characters.
	{name: "claim name too long", mutate: sets("metadata.name", strings.Repeat("a", 58)), want: "the claim name <template>-<metadata.name>-<highest ordinal> must be at most 63 characters"},
	{name: "claim template without name", mutate: dels("spec.volumeClaimTemplates.0.metadata.name"), want: "spec.volumeClaimTemplates[].metadata.name is required"},
	{name: "bad podManagementPolicy", mutate: sets("spec.podManagementPolicy", "Sometimes"), want: "spec.podManagementPolicy: Unsupported value"},
	{name: "bad updateStrategy type", mutate: sets("spec.updateStrategy.type", "Recreate"), want: "spec.updateStrategy.type must be RollingUpdate or OnDelete"},
	{name: "rollingUpdate with OnDelete", mutate: sets("spec.updateStrategy.type", "OnDelete"), want: "spec.updateStrategy.rollingUpdate is only allowed when spec.updateStrategy.type is RollingUpdate"},
	{name: "negative partition", mutate: sets("spec.updateStrategy.rollingUpdate.partition", int64(-1)), want: "spec.updateStrategy.rollingUpdate.partition must be >= 0"},
	{name: "zero maxUnavailable", mutate: sets("spec.updateStrategy.rollingUpdate.maxUnavailable", int64(0)), want: "spec.updateStrategy.rollingUpdate.maxUnavailable must be"},
	{name: "zero percent maxUnavailable", mutate: sets("spec.updateStrategy.rollingUpdate.maxUnavailable", "0%"), want: "spec.updateStrategy.rollingUpdate.maxUnavailable must be"},
	{name: "over 100 percent maxUnavailable", mutate: sets("spec.updateStrategy.rollingUpdate.maxUnavailable", "150%"), want: "spec.updateStrategy.rollingUpdate.maxUnavailable must be"},
	{name: "negative minReadySeconds", mutate: sets("spec.minReadySeconds", int64(-1)), want: "spec.minReadySeconds"},
	{name: "negative revisionHistoryLimit", mutate: sets("spec.revisionHistoryLimit", int64(-1)), want: "spec.revisionHistoryLimit"},
	{name: "negative ordinals.start", mutate: sets("spec.ordinals.start", int64(-1)), want: "spec.ordinals.start must be >= 0"},
	{name: "bad whenDeleted", mutate: sets("spec.persistentVolumeClaimRetentionPolicy.whenDeleted", "Keep"), want: "spec.persistentVolumeClaimRetentionPolicy.whenDeleted must be Retain or Delete"},
	{name: "bad whenScaled", mutate: sets("spec.persistentVolumeClaimRetentionPolicy.whenScaled", "Keep"), want: "spec.persistentVolumeClaimRetentionPolicy.whenScaled must be Retain or Delete"},
	{name: "restartPolicy Never", mutate: sets("spec.template.spec.restartPolicy", "Never"), want: "spec.template.spec.restartPolicy must be Always"},
	{name: "activeDeadlineSeconds", mutate: sets("spec.template.spec.activeDeadlineSeconds", int64(60)), want: "spec.template.spec.activeDeadlineSeconds is not allowed"},
}

// An updateCase changes an admitted PetSet: the base, changed by before if
// set, is created, then changed by mutate.
type updateCase struct {
	name   string
	before mutation
	mutate mutation
	want   string
}

var updateCases = []updateCase{
	{name: "scale", mutate: sets("spec.replicas", int64(5))},
	{name: "change template", mutate: sets("spec.template.spec.containers.0.image", "registry.k8s.io/nginx-slim:0.28")},
	{name: "change podManagementPolicy (allowed, unlike StatefulSet)", mutate: sets("spec.podManagementPolicy", "OrderedReady")},
	{name: "raise claim storage", mutate: sets("spec.volumeClaimTemplates.0.spec.resources.requests.storage", "2Gi")},
	{name: "same claim storage written differently", mutate: sets("spec.volumeClaimTemplates.0.spec.resources.requests.storage", "1024Mi")},
	{name: "change partition", mutate: sets("spec.updateStrategy.rollingUpdate.partition", int64(0))},

	{name: "lower claim storage", mutate: sets("spec.volumeClaimTemplates.0.spec.resources.requests.storage", "512Mi"), want: "spec.volumeClaimTemplates[].spec.resources.requests.storage may only grow"},
	{name: "change selector", mutate: both(
		sets("spec.selector.matchLabels", map[string]any{"app.kubernetes.io/name": "web", "tier": "frontend"}),
	), want: "spec.selector is immutable"},
	{name: "change serviceName", mutate: sets("spec.serviceName", "web2"), want: "spec.serviceName is immutable"},
	{name: "change claim accessModes", mutate: sets("spec.volumeClaimTemplates.0.spec.accessModes", []any{"ReadWriteOncePod"}), want: "spec.volumeClaimTemplates is immutable except spec.resources.requests.storage"},
	{name: "change claim labels", mutate: sets("spec.volumeClaimTemplates.0.metadata.labels.backup", "weekly"), want: "spec.volumeClaimTemplates is immutable except"},
	{name: "change claim storageClassName", mutate: sets("spec.volumeClaimTemplates.0.spec.storageClassName", "fast"), want: "spec.volumeClaimTemplates is immutable except"},
	{name: "add claim request", mutate: sets("spec.volumeClaimTemplates.1.spec.resources.requests.cpu", "1"), want: "spec.volumeClaimTemplates is immutable except"},
	{name: "remove claim template", mutate: func(obj map[string]any) {
		set(obj, "spec.volumeClaimTemplates", get(obj, "spec.volumeClaimTemplates").([]any)[:1])
	}, want: "spec.volumeClaimTemplates is immutable except"},
	{name: "remove all claim templates", mutate: dels("spec.volumeClaimTemplates"), want: "spec.volumeClaimTemplates is immutable except"},
	{name: "reorder claim templates", mutate: func(obj map[string]any) {
		l := get(obj, "spec.volumeClaimTemplates").([]any)
		l[0], l[1] = l[1], l[0]
	}, want: "spec.volumeClaimTemplates is immutable except"},
	// 61 + "-" + "10" = 64 characters.
	{name: "scale past the name limit", before: both(dels("spec.volumeClaimTemplates"), sets("metadata.name", strings.Repeat("a", 61))),
		mutate: sets("spec.replicas", int64(10)), want: "metadata.name is too long: the pet name"},
}
