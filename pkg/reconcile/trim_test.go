package reconcile

import (
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
)

// loadPet decodes testdata/pet-kwok.json: a pet as the local plane's API
// server returned it (managed fields of the controller and kwok included).
func loadPet(t testing.TB) *corev1.Pod {
	t.Helper()
	data, err := os.ReadFile("testdata/pet-kwok.json")
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return obj.(*corev1.Pod)
}

func TestTrimForCacheKeepsWhatTheControllerReads(t *testing.T) {
	pod := loadPet(t)
	if len(pod.ManagedFields) == 0 || len(pod.Spec.Containers) == 0 || len(pod.Status.ContainerStatuses) == 0 {
		t.Fatal("testdata pet lacks managed fields, containers or container statuses")
	}
	want := pod.DeepCopy()
	got, err := TrimForCache(pod)
	if err != nil {
		t.Fatal(err)
	}
	trimmed := got.(*corev1.Pod)
	if trimmed.ManagedFields != nil || trimmed.Spec.Containers != nil || trimmed.Status.ContainerStatuses != nil {
		t.Fatal("managed fields, containers or container statuses kept")
	}
	want.ManagedFields = nil
	if !reflect.DeepEqual(trimmed.ObjectMeta, want.ObjectMeta) {
		t.Errorf("metadata changed beyond managedFields")
	}
	wantReady := *readyCondition(want)
	if len(want.Status.Conditions) < 2 || len(trimmed.Status.Conditions) != 1 {
		t.Fatalf("conditions: %d whole, %d trimmed; want several and only Ready", len(want.Status.Conditions), len(trimmed.Status.Conditions))
	}
	if got := trimmed.Status.Conditions[0]; got.Type != corev1.PodReady || got.Status != wantReady.Status ||
		!got.LastTransitionTime.Equal(&wantReady.LastTransitionTime) {
		t.Errorf("Ready condition %+v, want the type, status and last transition of %+v", got, wantReady)
	}
	if trimmed.Spec.NodeName != want.Spec.NodeName || trimmed.Status.Phase != want.Status.Phase ||
		!trimmed.Status.StartTime.Equal(want.Status.StartTime) {
		t.Errorf("node, phase or start time lost: %+v", trimmed.Status)
	}
	// What the predicates say of the pet is unchanged, Ready or not.
	if isRunningAndReady(trimmed) != isRunningAndReady(want) || notReadySince(trimmed) != notReadySince(want) {
		t.Error("readiness judged differently after trimming")
	}
	notReady := loadPet(t)
	notReady.Status.Conditions = append(notReady.Status.Conditions, corev1.PodCondition{Type: "Example", Status: corev1.ConditionTrue})
	rc := readyCondition(notReady)
	rc.Status = corev1.ConditionFalse
	later := metav1.NewTime(rc.LastTransitionTime.Add(time.Minute)) // restarted after it last changed
	notReady.Status.StartTime = &later
	notReady.Annotations = map[string]string{InitializedAnnotation: "false", "example.com/big": strings.Repeat("x", 4096)}
	whole := notReady.DeepCopy()
	if _, err := TrimForCache(notReady); err != nil {
		t.Fatal(err)
	}
	if isRunningAndReady(notReady) != isRunningAndReady(whole) || !notReadySince(notReady).Equal(notReadySince(whole)) ||
		isPaused(notReady) != isPaused(whole) {
		t.Error("a not-Ready, paused pet judged differently after trimming")
	}
	if len(notReady.Annotations) != 1 {
		t.Errorf("annotations kept: %v", notReady.Annotations)
	}
	claim := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1"}}
	claim.SetManagedFields(loadPet(t).ManagedFields)
	if _, err := TrimForCache(claim); err != nil || claim.ManagedFields != nil || claim.Spec.VolumeName != "pv-1" {
		t.Errorf("claim: managed fields %v, spec %+v", claim.ManagedFields, claim.Spec)
	}
	tomb := cache.DeletedFinalStateUnknown{Key: "default/web-0", Obj: loadPet(t)}
	if got, err := TrimForCache(tomb); err != nil || !reflect.DeepEqual(got, tomb) {
		t.Error("tombstone changed")
	}
}

// BenchmarkCachedPetBytes reports the heap bytes one cached pet takes, as
// the informer keeps it, whole and trimmed (B/pet).
func BenchmarkCachedPetBytes(b *testing.B) {
	data, err := os.ReadFile("testdata/pet-kwok.json")
	if err != nil {
		b.Fatal(err)
	}
	decoder := serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer()
	const n = 2000
	for _, trim := range []bool{false, true} {
		name := "whole"
		if trim {
			name = "trimmed"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				pets := make([]any, n)
				for i := range pets {
					obj, _, err := decoder.Decode(data, nil, nil)
					if err != nil {
						b.Fatal(err)
					}
					if trim {
						obj2, _ := TrimForCache(obj)
						obj = obj2.(*corev1.Pod)
					}
					pets[i] = obj
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/pet")
				runtime.KeepAlive(pets)
			}
		})
	}
}
