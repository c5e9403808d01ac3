package framework

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kennel-dev/kennel/pkg/ordinal"
	"github.com/kennel-dev/kennel/test/plane"
)

// PeerPort is the named port of the test sets' headless Services, so SRV
// records exist as _peer._tcp.<service>...
const PeerPort = "peer"

// HeadlessService returns a headless Service for pets labelled app=name
// that publishes not-ready addresses (pets find each other before Ready).
func HeadlessService(name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			PublishNotReadyAddresses: true,
			Selector:                 map[string]string{"app": name},
			Ports:                    []corev1.ServicePort{{Name: PeerPort, Port: 7000, Protocol: corev1.ProtocolTCP}},
		},
	}
}

// StatefulSet returns an apps/v1 StatefulSet named name with replicas pets
// (OrderedReady), governed by the headless Service of the same name, with
// one volumeClaimTemplate "data" of 1Gi.
func StatefulSet(name string, replicas int32) *appsv1.StatefulSet {
	lbls := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            &replicas,
			ServiceName:         name,
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			Selector:            &metav1.LabelSelector{MatchLabels: lbls},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbls},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr[int64](1),
					Containers: []corev1.Container{{
						Name:  "app",
						Image: "registry.invalid/kennel/simulated:latest", // never pulled: nodes are simulated
						Ports: []corev1.ContainerPort{{Name: PeerPort, ContainerPort: 7000}},
						VolumeMounts: []corev1.VolumeMount{{
							Name: "data", MountPath: "/data",
						}},
					}},
				},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
					},
				},
			}},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// CreateStatefulSet creates the headless Service and the StatefulSet in the
// test's namespace.
func (f *Framework) CreateStatefulSet(ctx context.Context, set *appsv1.StatefulSet) *appsv1.StatefulSet {
	f.T.Helper()
	if _, err := f.Client.CoreV1().Services(f.Namespace).Create(ctx, HeadlessService(set.Spec.ServiceName), metav1.CreateOptions{}); err != nil {
		f.T.Fatalf("create service: %v", err)
	}
	out, err := f.Client.AppsV1().StatefulSets(f.Namespace).Create(ctx, set, metav1.CreateOptions{})
	if err != nil {
		f.T.Fatalf("create statefulset: %v", err)
	}
	return out
}

// ScaleStatefulSet sets the StatefulSet's replicas.
func (f *Framework) ScaleStatefulSet(ctx context.Context, name string, replicas int32) {
	f.T.Helper()
	s, err := f.Client.AppsV1().StatefulSets(f.Namespace).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		f.T.Fatalf("get scale of %s: %v", name, err)
	}
	s.Spec.Replicas = replicas
	if _, err := f.Client.AppsV1().StatefulSets(f.Namespace).UpdateScale(ctx, name, s, metav1.UpdateOptions{}); err != nil {
		f.T.Fatalf("scale %s to %d: %v", name, replicas, err)
	}
}

// Pets lists the pods labelled app=name, sorted by ordinal.
func (f *Framework) Pets(ctx context.Context, name string) ([]corev1.Pod, error) {
	pods, err := f.Client.CoreV1().Pods(f.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.SelectorFromSet(labels.Set{"app": name}).String(),
	})
	if err != nil {
		return nil, err
	}
	items := pods.Items
	sort.Slice(items, func(i, j int) bool { return ordinal.Compare(items[i].Name, items[j].Name) < 0 })
	return items, nil
}

// WaitForReadyPets waits until exactly n pets of the set exist and are all
// Ready (and not terminating), and returns them sorted by ordinal.
func (f *Framework) WaitForReadyPets(ctx context.Context, name string, n int) []corev1.Pod {
	f.T.Helper()
	var pets []corev1.Pod
	err := f.WaitFor(ctx, fmt.Sprintf("%d Ready pets of %s", n, name), func(ctx context.Context) (bool, error) {
		var err error
		pets, err = f.Pets(ctx, name)
		if err != nil {
			return false, Retry(err)
		}
		if len(pets) != n {
			return false, nil
		}
		for i := range pets {
			if !PetReady(&pets[i]) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		f.T.Fatal(err)
	}
	return pets
}

// PetReady reports whether the pod is Ready and not being deleted.
func PetReady(p *corev1.Pod) bool { return plane.PodReady(p) && p.DeletionTimestamp == nil }

// HasEvent reports whether an event with the reason was recorded on the
// object of the kind and name in the test's namespace.
func (f *Framework) HasEvent(ctx context.Context, kind, name, reason string) bool {
	list, err := f.Client.CoreV1().Events(f.Namespace).List(ctx, metav1.ListOptions{
		FieldSelector: "involvedObject.kind=" + kind + ",involvedObject.name=" + name + ",reason=" + reason,
	})
	return err == nil && len(list.Items) > 0
}

// WaitForPodReady waits until the pod's Ready condition equals ready.
func (f *Framework) WaitForPodReady(ctx context.Context, name string, ready bool) {
	f.T.Helper()
	err := f.WaitFor(ctx, fmt.Sprintf("pod %s Ready=%v", name, ready), func(ctx context.Context) (bool, error) {
		pod, err := f.Client.CoreV1().Pods(f.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, Retry(err)
		}
		return plane.PodReady(pod) == ready, nil
	})
	if err != nil {
		f.T.Fatal(err)
	}
}

// WaitForBoundClaims waits until the named PVCs are Bound.
func (f *Framework) WaitForBoundClaims(ctx context.Context, names ...string) {
	f.T.Helper()
	for _, n := range names {
		err := f.WaitFor(ctx, "PVC "+n+" Bound", func(ctx context.Context) (bool, error) {
			pvc, err := f.Client.CoreV1().PersistentVolumeClaims(f.Namespace).Get(ctx, n, metav1.GetOptions{})
			if err != nil {
				return false, Retry(err)
			}
			return pvc.Status.Phase == corev1.ClaimBound, nil
		})
		if err != nil {
			f.T.Fatal(err)
		}
	}
}

// SetPodAnnotation sets (value != "") or removes (value == "") one
// annotation of a pod with a merge patch.
func (f *Framework) SetPodAnnotation(ctx context.Context, pod, key, value string) {
	f.T.Helper()
	v := "null"
	if value != "" {
		v = fmt.Sprintf("%q", value)
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%s}}}`, key, v)
	if _, err := f.Client.CoreV1().Pods(f.Namespace).Patch(ctx, pod, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		f.T.Fatalf("annotate pod %s: %v", pod, err)
	}
}

// FQDN returns the DNS name of pet i of a set governed by service.
func (f *Framework) FQDN(set, service string, i int) string {
	return fmt.Sprintf("%s.%s.%s.svc.%s", ordinal.PetName(set, i), service, f.Namespace, plane.ClusterDomain)
}
