package chaos

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// recordBuilder writes the record a controller would leave: watch events
// and audit entries at increasing times.
type recordBuilder struct {
	t   time.Time
	evs []event
	ws  []write
}

func newRecord() *recordBuilder {
	return &recordBuilder{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// tick advances the clock past the checker's windows.
func (r *recordBuilder) tick() time.Time {
	r.t = r.t.Add(5 * time.Second)
	return r.t
}

func (r *recordBuilder) setState(name string, replicas, partition, maxUnavailable int, parallel, deleteOnScale bool) {
	r.evs = append(r.evs, event{At: r.tick(), Set: &set{Name: name, Replicas: replicas, Partition: partition,
		MaxUnavailable: maxUnavailable, Parallel: parallel, DeleteOnScale: deleteOnScale}})
}

func (r *recordBuilder) pod(setName string, ord int, ready, gone bool) {
	p := pod{Name: petName(setName, ord), UID: petName(setName, ord), Set: setName, Ordinal: ord,
		Phase: corev1.PodRunning, Ready: ready, Owner: "PetSet/" + setName, Gone: gone}
	r.evs = append(r.evs, event{At: r.tick(), Pod: &p})
}

func (r *recordBuilder) write(user, verb, resource, name, holder string) {
	r.ws = append(r.ws, write{At: r.tick(), User: user, Verb: verb, Resource: resource, Name: name, Code: 200, Holder: holder})
}

// createPet is a correct creation: claim first, then the pet, which
// becomes Ready.
func (r *recordBuilder) createPet(user, setName string, ord int) {
	r.write(user, "create", "persistentvolumeclaims", claimName(setName, ord), "")
	r.write(user, "create", "pods", petName(setName, ord), "")
	r.pod(setName, ord, true, false)
}

// TestCheckerCatchesBrokenController is the harness's self-test: the record
// of a deliberately broken controller must yield violations of the right
// invariant, and the record of a correct one none.
func TestCheckerCatchesBrokenController(t *testing.T) {
	const ctl, other = "ctl", "ctl-2"
	tests := []struct {
		name   string
		record func(r *recordBuilder)
		want   Invariant
	}{
		{"correct controller", func(r *recordBuilder) {
			r.setState("ord", 3, 0, 1, false, false)
			for i := range 3 {
				r.createPet(ctl, "ord", i)
			}
			r.setState("ord", 1, 0, 1, false, false)
			r.write(ctl, "delete", "pods", "ord-2", "")
			r.pod("ord", 2, true, true)
			r.write(ctl, "delete", "pods", "ord-1", "")
		}, ""},
		{"pet created while a lower one is not Ready", func(r *recordBuilder) {
			r.setState("ord", 3, 0, 1, false, false)
			r.createPet(ctl, "ord", 0)
			r.pod("ord", 0, false, false)
			r.write(ctl, "create", "persistentvolumeclaims", "data-ord-1", "")
			r.write(ctl, "create", "pods", "ord-1", "")
		}, InvOrder},
		{"scale-down not from the highest ordinal", func(r *recordBuilder) {
			r.setState("ord", 3, 0, 1, false, false)
			for i := range 3 {
				r.createPet(ctl, "ord", i)
			}
			r.setState("ord", 1, 0, 1, false, false)
			r.write(ctl, "delete", "pods", "ord-1", "")
		}, InvOrder},
		{"claim deleted though retained", func(r *recordBuilder) {
			r.setState("par", 2, 0, 1, true, false)
			r.createPet(ctl, "par", 0)
			r.write("gc", "delete", "persistentvolumeclaims", "data-par-0", "")
		}, InvClaims},
		{"pet created before its claim", func(r *recordBuilder) {
			r.setState("par", 2, 0, 1, true, false)
			r.write(ctl, "create", "pods", "par-0", "")
		}, InvClaims},
		{"pet created beyond the replicas", func(r *recordBuilder) {
			r.setState("par", 1, 0, 1, true, false)
			r.createPet(ctl, "par", 0)
			r.createPet(ctl, "par", 1)
		}, InvIdentity},
		{"rollout past maxUnavailable", func(r *recordBuilder) {
			r.setState("par", 3, 0, 1, true, false)
			for i := range 3 {
				r.createPet(ctl, "par", i)
			}
			r.pod("par", 0, false, false)
			r.write(ctl, "delete", "pods", "par-2", "")
		}, InvRollout},
		{"rollout below the partition", func(r *recordBuilder) {
			r.setState("par", 3, 2, 1, true, false)
			for i := range 3 {
				r.createPet(ctl, "par", i)
			}
			r.write(ctl, "delete", "pods", "par-1", "")
		}, InvRollout},
		{"write after losing the Lease", func(r *recordBuilder) {
			r.setState("par", 3, 0, 1, true, false)
			r.write(ctl, "update", "leases", leaseName, "id-1")
			r.createPet(ctl, "par", 0)
			r.write(other, "update", "leases", leaseName, "id-2")
			r.write(ctl, "create", "persistentvolumeclaims", "data-par-1", "")
		}, InvLeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecord()
			r.write(ctl, "update", "leases", leaseName, "id-1")
			tt.record(r)
			c := NewChecker("PetSet", []string{"ord", "par"}, []string{ctl, other}, true)
			c.Feed(1, r.evs, r.ws)
			got := c.Counts()
			for _, inv := range Invariants {
				want := 0
				if inv == tt.want {
					want = 1
				}
				if (got[inv] > 0) != (want > 0) {
					t.Errorf("%s: %d violations, want %d; all: %v", inv, got[inv], want, c.Snapshot())
				}
			}
		})
	}
}

// TestCheckerWindow: a write judged against a state the controller could
// still have seen (within Lag) is no violation; past Lag it is.
func TestCheckerWindow(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		notReady time.Duration // pet 0 turns NotReady this long before pet 1 is created
		want     int
	}{
		{"cache lag within the window", 500 * time.Millisecond, 0},
		{"stale beyond the window", 10 * time.Second, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewChecker("PetSet", []string{"ord"}, []string{"ctl"}, false)
			create := base.Add(time.Minute)
			evs := []event{
				{At: base, Set: &set{Name: "ord", Replicas: 2, MaxUnavailable: 1}},
				{At: base.Add(time.Second), Pod: &pod{Name: "ord-0", UID: "u", Set: "ord", Phase: corev1.PodRunning, Ready: true, Owner: "PetSet/ord"}},
				{At: create.Add(-tt.notReady), Pod: &pod{Name: "ord-0", UID: "u", Set: "ord", Phase: corev1.PodRunning, Owner: "PetSet/ord"}},
			}
			ws := []write{
				{At: base.Add(2 * time.Second), User: "ctl", Verb: "create", Resource: "persistentvolumeclaims", Name: "data-ord-1", Code: 201},
				{At: create, User: "ctl", Verb: "create", Resource: "pods", Name: "ord-1", Code: 201},
			}
			c.Feed(1, evs, ws)
			if got := c.Counts()[InvOrder]; got != tt.want {
				t.Errorf("ordered-ready violations %d, want %d: %v", got, tt.want, c.Snapshot())
			}
		})
	}
}

func TestStats(t *testing.T) {
	s := statsOf([]time.Duration{3 * time.Second, time.Second, 2 * time.Second})
	if s.Median != 2*time.Second || s.Max != 3*time.Second || s.N != 3 {
		t.Errorf("stats %+v", s)
	}
	if got := (Stats{}).String(); got != "–" {
		t.Errorf("empty stats %q", got)
	}
}

func TestPlansRepeatForASeed(t *testing.T) {
	for round := 1; round <= 5; round++ {
		a, b := planRound(roundRand(42, round), KindKennel), planRound(roundRand(42, round), KindKennel)
		if a.String() != b.String() {
			t.Errorf("round %d: %s then %s", round, a, b)
		}
	}
	if planRound(roundRand(1, 1), KindKennel).String() == planRound(roundRand(2, 1), KindKennel).String() &&
		planRound(roundRand(1, 2), KindKennel).String() == planRound(roundRand(2, 2), KindKennel).String() {
		t.Error("different seeds gave the same plans")
	}
}

// TestCheckerLearnsSetChangesFromTheAudit: a scale-up the recorder's watch
// missed (it was relisting) is in the audit log with the stored set; a pet
// created for it is no violation. Without the set in the audit entry it is.
func TestCheckerLearnsSetChangesFromTheAudit(t *testing.T) {
	for _, tt := range []struct {
		name  string
		audit bool
		want  int
	}{{"scale-up in the audit log", true, 0}, {"scale-up seen by nobody", false, 1}} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecord()
			r.setState("ord", 1, 0, 1, false, false)
			r.createPet("ctl", "ord", 0)
			scale := write{At: r.tick(), User: "admin", Verb: "patch", Resource: "petsets", Name: "ord", Code: 200}
			if tt.audit {
				scale.Set = &set{Name: "ord", Replicas: 2, MaxUnavailable: 1}
			}
			r.ws = append(r.ws, scale)
			r.createPet("ctl", "ord", 1)
			c := NewChecker("PetSet", []string{"ord"}, []string{"ctl"}, false)
			c.Feed(1, r.evs, r.ws)
			if got := c.Counts()[InvIdentity]; got != tt.want {
				t.Errorf("identity violations %d, want %d: %v", got, tt.want, c.Snapshot())
			}
		})
	}
}

func TestAuditSetWriteCarriesTheStoredSet(t *testing.T) {
	line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","stage":"ResponseComplete","verb":"patch",` +
		`"user":{"username":"admin"},"objectRef":{"resource":"petsets","namespace":"chaos","name":"par","apiGroup":"kennel.dev"},` +
		`"responseStatus":{"code":200},"requestReceivedTimestamp":"2026-01-01T00:00:00.000000Z",` +
		`"responseObject":{"apiVersion":"kennel.dev/v1","kind":"PetSet","metadata":{"name":"par","generation":7},` +
		`"spec":{"replicas":4,"podManagementPolicy":"Parallel","persistentVolumeClaimRetentionPolicy":{"whenScaled":"Delete"}}}}` + "\n"
	ws, err := parseAudit([]byte(line))
	if err != nil || len(ws) != 1 {
		t.Fatalf("%v %v", ws, err)
	}
	s := ws[0].Set
	if s == nil || s.Name != "par" || s.Replicas != 4 || !s.Parallel || !s.DeleteOnScale || s.Generation != 7 {
		t.Fatalf("set %+v", s)
	}
}

// TestCheckerLearnsPodReadinessFromTheAudit: pet 0 turned Ready while the
// recorder's watch was down; kwok's status write is in the audit log, so
// creating pet 1 is no ordered-ready violation. Without it, it is.
func TestCheckerLearnsPodReadinessFromTheAudit(t *testing.T) {
	for _, tt := range []struct {
		name  string
		audit bool
		want  int
	}{{"readiness in the audit log", true, 0}, {"readiness seen by nobody", false, 1}} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecord()
			r.setState("ord", 2, 0, 1, false, false)
			r.write("ctl", "create", "persistentvolumeclaims", claimName("ord", 0), "")
			r.write("ctl", "create", "pods", petName("ord", 0), "")
			p := pod{Name: "ord-0", UID: "u0", Set: "ord", Phase: corev1.PodPending, Owner: "PetSet/ord"}
			r.evs = append(r.evs, event{At: r.tick(), Pod: &p})
			if tt.audit {
				ready := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ord-0", UID: "u0",
					OwnerReferences: []metav1.OwnerReference{{Kind: "PetSet", Name: "ord", Controller: ptr(true)}}},
					Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}}
				r.ws = append(r.ws, write{At: r.tick(), User: "kwok", Verb: "patch", Resource: "pods", Subresource: "status", Name: "ord-0", Code: 200, Pod: ready})
			}
			r.write("ctl", "create", "persistentvolumeclaims", claimName("ord", 1), "")
			r.write("ctl", "create", "pods", petName("ord", 1), "")
			c := NewChecker("PetSet", []string{"ord"}, []string{"ctl"}, false)
			c.Feed(1, r.evs, r.ws)
			if got := c.Counts()[InvOrder]; got != tt.want {
				t.Errorf("ordered-ready violations %d, want %d: %v", got, tt.want, c.Snapshot())
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
