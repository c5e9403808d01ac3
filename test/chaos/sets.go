package chaos

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
)

// Kind selects the controller under test.
type Kind string

// The controllers the harness can judge.
const (
	KindKennel      Kind = "kennel"
	KindStatefulSet Kind = "statefulset"
)

// kindInfo is how a kind's sets are addressed.
type kindInfo struct {
	gvr        schema.GroupVersionResource
	apiVersion string
	kind       string
}

func infoFor(k Kind) (kindInfo, error) {
	switch k {
	case KindKennel:
		return kindInfo{schema.GroupVersionResource{Group: "kennel.dev", Version: "v1", Resource: "petsets"}, "kennel.dev/v1", "PetSet"}, nil
	case KindStatefulSet:
		return kindInfo{schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}, "apps/v1", "StatefulSet"}, nil
	}
	return kindInfo{}, fmt.Errorf("unknown kind %q: want %q or %q", k, KindKennel, KindStatefulSet)
}

// setSpec describes one set of the test.
type setSpec struct {
	name          string
	parallel      bool
	deleteOnScale bool
	replicas      int32
}

// testSets are the sets every run uses: one per pod management policy, one
// keeping claims on scale-down and one deleting them.
var testSets = []setSpec{
	{name: "ord", replicas: 3},
	{name: "par", parallel: true, deleteOnScale: true, replicas: 3},
}

func setNames() []string {
	out := make([]string, len(testSets))
	for i, s := range testSets {
		out[i] = s.name
	}
	return out
}

// versionAnnotation is what a template change changes.
const versionAnnotation = "chaos.kennel.dev/version"

func statefulSet(s setSpec) *appsv1.StatefulSet {
	lbls := map[string]string{"app": s.name}
	policy := appsv1.OrderedReadyPodManagement
	if s.parallel {
		policy = appsv1.ParallelPodManagement
	}
	retention := &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	if s.deleteOnScale {
		retention.WhenScaled = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	}
	grace := int64(1)
	replicas, partition, maxUnavailable := s.replicas, int32(0), intstr.FromInt32(1)
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Labels: lbls},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas, ServiceName: s.name, PodManagementPolicy: policy,
			Selector: &metav1.LabelSelector{MatchLabels: lbls},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type:          appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition, MaxUnavailable: &maxUnavailable},
			},
			PersistentVolumeClaimRetentionPolicy: retention,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls, Annotations: map[string]string{versionAnnotation: "v0"}},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &grace,
					Containers: []corev1.Container{{
						Name: "app", Image: "registry.invalid/kennel/simulated:latest", // never pulled: nodes are simulated
						VolumeMounts: []corev1.VolumeMount{{Name: claimTemplate, MountPath: "/data"}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: claimTemplate},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
}

// setObject is the set as an object of the kind under test.
func setObject(k kindInfo, s setSpec) (*unstructured.Unstructured, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(statefulSet(s))
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion(k.apiVersion)
	u.SetKind(k.kind)
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

func headlessService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "peer", Port: 7000}},
		},
	}
}

// setClient changes sets through merge patches, the same for both kinds.
type setClient struct {
	res dynamic.ResourceInterface
}

func (c setClient) patch(ctx context.Context, name string, spec map[string]any) error {
	b, err := json.Marshal(map[string]any{"spec": spec})
	if err != nil {
		return err
	}
	_, err = c.res.Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{FieldManager: "kennel-chaos"})
	return err
}

func (c setClient) scale(ctx context.Context, name string, replicas int) error {
	return c.patch(ctx, name, map[string]any{"replicas": replicas})
}

// rollout sets the template version, the partition and maxUnavailable.
func (c setClient) rollout(ctx context.Context, name, version string, partition, maxUnavailable int) error {
	return c.patch(ctx, name, map[string]any{
		"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{versionAnnotation: version}}},
		"updateStrategy": map[string]any{"rollingUpdate": map[string]any{
			"partition": partition, "maxUnavailable": maxUnavailable,
		}},
	})
}

func (c setClient) get(ctx context.Context, name string) (*appsv1.StatefulSet, error) {
	u, err := c.res.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return toStatefulSet(u)
}
