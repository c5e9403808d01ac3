package reconcile

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
)

func retSet(whenDeleted, whenScaled appsv1.PersistentVolumeClaimRetentionPolicyType) *kennelv1.PetSet {
	set := revSet("nginx")
	set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: whenDeleted, WhenScaled: whenScaled}
	return set
}

func claimFor(name string, refs ...metav1.OwnerReference) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", OwnerReferences: refs}}
}

// describe renders owner references as Kind/name[*] (* = controller).
func describe(refs []metav1.OwnerReference) string {
	var s []string
	for _, r := range refs {
		d := r.Kind + "/" + r.Name
		if r.Controller != nil && *r.Controller {
			d += "*"
		}
		s = append(s, d)
	}
	return strings.Join(s, ",")
}

func TestClaimIdentity(t *testing.T) {
	set := retSet("", "")
	set.Spec.VolumeClaimTemplates = append(set.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-web"}})
	for name, want := range map[string]int{"data-web-3": 3, "data-web-web-12": 12, "data-db-3": -1, "logs-web-1": -1, "data-web-x": -1, "data-web-01": -1, "data": -1, "data-": -1, "datax-web-1": -1} {
		tmpl, ord, ok := claimIdentity(set, claimFor(name))
		if (want < 0) == ok || (ok && ord != want) || (ok && !strings.HasPrefix(name, tmpl+"-")) {
			t.Errorf("%s: %d %v, want %d", name, ord, ok, want)
		}
	}
}

func TestDesiredClaimOwners(t *testing.T) {
	const (
		retain = appsv1.RetainPersistentVolumeClaimRetentionPolicyType
		del    = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	)
	setRef := func(set *kennelv1.PetSet) metav1.OwnerReference { return *metav1.NewControllerRef(set, controllerKind) }
	pet := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-2", UID: "pet-uid"}}
	petRef := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "web-2", UID: "pet-uid"}
	stalePetRef := metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "web-2", UID: "old-pet-uid"}
	tr := true
	foreignCtl := metav1.OwnerReference{APIVersion: "x/v1", Kind: "Backup", Name: "b", UID: "foreign", Controller: &tr}
	foreign := metav1.OwnerReference{APIVersion: "x/v1", Kind: "Snapshot", Name: "s", UID: "snap"}
	for _, tc := range []struct {
		name        string
		whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType
		whenScaled  appsv1.PersistentVolumeClaimRetentionPolicyType
		existing    func(set *kennelv1.PetSet) []metav1.OwnerReference
		pet         *corev1.Pod
		condemned   bool
		deleting    bool
		want        string
		changed     bool
	}{
		{"retain retain", retain, retain, nil, pet, false, false, "", false},
		{"retain removes set ref", retain, retain, func(s *kennelv1.PetSet) []metav1.OwnerReference { return []metav1.OwnerReference{setRef(s)} }, pet, false, false, "", true},
		{"whenDeleted adds set ref", del, retain, nil, pet, false, false, "PetSet/web*", true},
		{"whenDeleted kept", del, retain, func(s *kennelv1.PetSet) []metav1.OwnerReference { return []metav1.OwnerReference{setRef(s)} }, pet, false, false, "PetSet/web*", false},
		{"whenScaled not condemned", retain, del, nil, pet, false, false, "", false},
		{"whenScaled condemned adds pet ref", retain, del, nil, pet, true, false, "Pod/web-2", true},
		{"whenScaled condemned without pet", retain, del, nil, nil, true, false, "", false},
		{"scaled back up removes pet ref", retain, del, func(*kennelv1.PetSet) []metav1.OwnerReference { return []metav1.OwnerReference{petRef} }, pet, false, false, "", true},
		{"stale pet ref removed when not condemned", retain, del, func(*kennelv1.PetSet) []metav1.OwnerReference { return []metav1.OwnerReference{stalePetRef} }, pet, false, false, "", true},
		{"condemned pet gone keeps its ref for the collector", retain, del, func(*kennelv1.PetSet) []metav1.OwnerReference { return []metav1.OwnerReference{petRef} }, nil, true, false, "Pod/web-2", false},
		{"stale pet ref removed without pet", retain, retain, func(*kennelv1.PetSet) []metav1.OwnerReference { return []metav1.OwnerReference{stalePetRef} }, nil, false, false, "", true},
		{"both", del, del, nil, pet, true, false, "PetSet/web*,Pod/web-2", true},
		{"foreign controller untouched", del, del, func(*kennelv1.PetSet) []metav1.OwnerReference { return []metav1.OwnerReference{foreignCtl} }, pet, true, false, "Backup/b*", false},
		{"foreign owner kept", del, retain, func(*kennelv1.PetSet) []metav1.OwnerReference { return []metav1.OwnerReference{foreign} }, pet, false, false, "Snapshot/s,PetSet/web*", true},
		{"set deleting keeps set ref", del, retain, func(s *kennelv1.PetSet) []metav1.OwnerReference { return []metav1.OwnerReference{setRef(s)} }, pet, false, true, "PetSet/web*", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := retSet(tc.whenDeleted, tc.whenScaled)
			if tc.deleting {
				now := metav1.Now()
				set.DeletionTimestamp = &now
			}
			claim := claimFor("data-web-2")
			if tc.existing != nil {
				claim.OwnerReferences = tc.existing(set)
			}
			got, changed := desiredClaimOwners(set, claim, tc.pet, tc.condemned)
			if describe(got) != tc.want || changed != tc.changed {
				t.Errorf("owners %q changed %v, want %q %v", describe(got), changed, tc.want, tc.changed)
			}
			// Applying the result is a fixed point.
			claim.OwnerReferences = got
			if again, changed := desiredClaimOwners(set, claim, tc.pet, tc.condemned); changed {
				t.Errorf("not idempotent: %q", describe(again))
			}
		})
	}
}

func TestPlanClaimRetentionAndApply(t *testing.T) {
	set := retSet(appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType)
	pets := map[int]*corev1.Pod{}
	for i := range 4 {
		pets[i] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-" + string(rune('0'+i)), UID: types.UID("p" + string(rune('0'+i)))}}
	}
	claims := []*corev1.PersistentVolumeClaim{claimFor("data-web-0"), claimFor("data-web-3"), claimFor("data-web-2"), claimFor("other-web-3"), claimFor("data-web-9")}
	client := fake.NewClientset()
	for _, c := range claims {
		if _, err := client.CoreV1().PersistentVolumeClaims("default").Create(context.Background(), c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Scaled from 4 to 2: ordinals 2 and 3 are condemned; 9 has no pet.
	changes := planClaimRetention(set, claims, pets, func(ord int) bool { return ord >= 2 })
	var got []string
	ctl := NewClaimControl(client)
	for _, ch := range changes {
		got = append(got, ch.Claim.Name+"="+describe(ch.Owners))
		if err := ctl.SetClaimOwners(context.Background(), set, ch.Claim, ch.Owners); err != nil {
			t.Fatal(err)
		}
	}
	if want := "data-web-3=Pod/web-3,data-web-2=Pod/web-2"; strings.Join(got, ",") != want {
		t.Fatalf("changes %v, want %s", got, want)
	}
	live, err := client.CoreV1().PersistentVolumeClaims("default").Get(context.Background(), "data-web-3", metav1.GetOptions{})
	if err != nil || describe(live.OwnerReferences) != "Pod/web-3" {
		t.Fatalf("claim not updated: %v %v", err, live)
	}
}
