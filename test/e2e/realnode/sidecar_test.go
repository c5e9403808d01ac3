package realnode

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	"github.com/kennel-dev/kennel/test/e2e/framework"
)

// onChange is the sidecar's script: it writes the peers to the pet's
// volume and, when /data/hold exists, keeps running (a child in its
// process group) until SIGTERM, which it logs.
const onChange = `#!/bin/sh
cat > /data/peers.tmp && mv /data/peers.tmp /data/peers
echo "run $(date +%s) $(grep -c . /data/peers)" >> /data/log
[ -e /data/hold ] || exit 0
trap 'echo "term $(date +%s)" >> /data/log; exit 0' TERM
echo "holding $(date +%s)" >> /data/log
sleep 3600 &
wait
`

// sidecarSet is a PetSet whose pets run peer-finder as a sidecar (from the
// peer-finder image's --install, in the nginx image for its shell).
func sidecarSet(replicas int32) *kennelv1.PetSet {
	set := framework.PetSet("side", replicas)
	spec := &set.Spec.Template.Spec
	spec.TerminationGracePeriodSeconds = ptr(int64(30))
	spec.InitContainers = []corev1.Container{{
		Name: "install-peer-finder", Image: framework.PeerFinderImage, ImagePullPolicy: corev1.PullNever,
		Args:         []string{"--install", "/kennel/bin"},
		VolumeMounts: []corev1.VolumeMount{{Name: "kennel-bin", MountPath: "/kennel/bin"}},
	}}
	spec.Containers = []corev1.Container{{
		Name: "peers", Image: framework.NginxImage, ImagePullPolicy: corev1.PullNever,
		Command: []string{"/kennel/bin/peer-finder"},
		Args:    []string{"--on-start=/kennel/scripts/on-change.sh", "--on-change=/kennel/scripts/on-change.sh", "--service=side"},
		Env: []corev1.EnvVar{{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "kennel-bin", MountPath: "/kennel/bin"},
			{Name: "scripts", MountPath: "/kennel/scripts"},
			{Name: "data", MountPath: "/data"},
		},
	}}
	spec.Volumes = []corev1.Volume{
		{Name: "kennel-bin", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "scripts", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "side-scripts"}, DefaultMode: ptr(int32(0o555))}}},
	}
	return set
}

// peer-finder as a sidecar in real pods follows scale-up and scale-down,
// and on pod deletion stops its script's process group (SIGTERM) well
// within the grace period.
func TestPeerFinderSidecar(t *testing.T) {
	f := framework.New(t)
	ctx := f.Context(6 * time.Minute)
	kc := f.InstallPetSetCRD()
	f.StartController("controller", "--namespace="+f.Namespace, "--leader-elect=false",
		"--metrics-bind-address=0", "--health-probe-bind-address=0")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "side-scripts"}, Data: map[string]string{"on-change.sh": onChange}}
	if _, err := f.Client.CoreV1().ConfigMaps(f.Namespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := framework.HeadlessService("side")
	if _, err := f.Client.CoreV1().Services(f.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kc.KennelV1().PetSets(f.Namespace).Create(ctx, sidecarSet(2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	onRealNode(t, waitReady(ctx, f, "app=side", 2))
	scale := func(n int) {
		patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n))
		if _, err := kc.KennelV1().PetSets(f.Namespace).Patch(ctx, "side", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitReady(ctx, f, "app=side", n)
	}
	for _, n := range []int{2, 3, 1} {
		if n != 2 {
			scale(n)
		}
		start := time.Now()
		peers := waitPeers(ctx, f, "side-0", n)
		t.Logf("%d pets: side-0's sidecar wrote %d peers %s after the pets were Ready: %q", n, n, time.Since(start).Round(time.Millisecond), peers)
	}

	// Deletion while the script runs.
	if _, err := podExec(f, "side-0", "touch", "/data/hold"); err != nil {
		t.Fatal(err)
	}
	scale(2)
	waitLog(ctx, f, "side-0", "holding")
	deleted := time.Now()
	if err := f.Client.CoreV1().Pods(f.Namespace).Delete(ctx, "side-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitFor(ctx, "side-0 gone or replaced", func(ctx context.Context) (bool, error) {
		p, err := f.Client.CoreV1().Pods(f.Namespace).Get(ctx, "side-0", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return err == nil && p.CreationTimestamp.Time.After(deleted.Add(-time.Second)) && p.DeletionTimestamp == nil, framework.Retry(err)
	}); err != nil {
		t.Fatal(err)
	}
	gone := time.Since(deleted)
	t.Logf("side-0 (script holding) deleted in %s (grace period 30s)", gone.Round(time.Millisecond))
	if gone > 20*time.Second {
		t.Errorf("side-0 took %s to stop: peer-finder did not stop its script on SIGTERM", gone)
	}
	waitReady(ctx, f, "app=side", 2)
	log := waitLog(ctx, f, "side-0", "term ")
	t.Logf("side-0's volume log:\n%s", log)
}

// waitPeers waits until pod's /data/peers lists n peers, and returns them.
func waitPeers(ctx context.Context, f *framework.Framework, pod string, n int) string {
	f.T.Helper()
	var out string
	err := framework.Poll(ctx, 500*time.Millisecond, fmt.Sprintf("%d peers in %s's /data/peers", n, pod), func(context.Context) (bool, error) {
		var err error
		out, err = podExec(f, pod, "cat", "/data/peers")
		return err == nil && len(strings.Fields(out)) == n, framework.Retry(err)
	})
	if err != nil {
		f.T.Fatalf("%v (last: %q)", err, out)
	}
	return out
}

// waitLog waits until pod's /data/log contains s, and returns the log.
func waitLog(ctx context.Context, f *framework.Framework, pod, s string) string {
	f.T.Helper()
	var out string
	err := framework.Poll(ctx, 500*time.Millisecond, fmt.Sprintf("%q in %s's /data/log", s, pod), func(context.Context) (bool, error) {
		var err error
		out, err = podExec(f, pod, "cat", "/data/log")
		return err == nil && strings.Contains(out, s), framework.Retry(err)
	})
	if err != nil {
		f.T.Fatalf("%v (last: %q)", err, out)
	}
	return out
}
