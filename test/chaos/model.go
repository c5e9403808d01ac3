package chaos

import (
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// pod is what the checks need of one pod.
type pod struct {
	Name, UID   string
	Set         string
	Ordinal     int
	Phase       corev1.PodPhase
	Ready       bool
	Terminating bool
	Revision    string
	Owner       string // "Kind/name" of the controller reference, "" if none
	Gone        bool
}

// healthy reports Running and Ready and not terminating.
func (p pod) healthy() bool {
	return !p.Gone && !p.Terminating && p.Phase == corev1.PodRunning && p.Ready
}

// claim is what the checks need of one PersistentVolumeClaim.
type claim struct {
	Name, UID   string
	Set         string
	Ordinal     int
	Terminating bool
	Gone        bool
}

// set is what the checks need of one set's spec and status.
type set struct {
	Name           string
	Generation     int64
	Replicas       int
	Parallel       bool
	Partition      int
	MaxUnavailable int
	DeleteOnScale  bool
	Status         appsv1.StatefulSetStatus
}

// world is one observed state of the namespace.
type world struct {
	pods   map[string]pod
	claims map[string]claim
	sets   map[string]set
}

func newWorld() world {
	return world{pods: map[string]pod{}, claims: map[string]claim{}, sets: map[string]set{}}
}

func (w world) clone() world {
	c := newWorld()
	for k, v := range w.pods {
		c.pods[k] = v
	}
	for k, v := range w.claims {
		c.claims[k] = v
	}
	for k, v := range w.sets {
		c.sets[k] = v
	}
	return c
}

// pet returns the live pod of a set at an ordinal.
func (w world) pet(setName string, ord int) (pod, bool) {
	p, ok := w.pods[petName(setName, ord)]
	if !ok || p.Gone {
		return pod{}, false
	}
	return p, true
}

// event is one recorded change, stamped with the time the recorder saw it.
type event struct {
	At    time.Time
	Pod   *pod
	Claim *claim
	Set   *set
}

func (w world) apply(e event) {
	switch {
	case e.Pod != nil:
		w.pods[e.Pod.Name] = *e.Pod
	case e.Claim != nil:
		w.claims[e.Claim.Name] = *e.Claim
	case e.Set != nil:
		w.sets[e.Set.Name] = *e.Set
	}
}

// write is one write request from the audit log.
type write struct {
	At          time.Time
	User        string
	Verb        string // create, update, patch, delete
	Resource    string // pods, persistentvolumeclaims, leases, ...
	Subresource string
	Name        string
	Code        int
	Holder      string      // leases: the holder identity in the response
	Set         *set        // a write to a set itself: the set as stored
	Pod         *corev1.Pod // a pod created or its status written: the pod as stored
}

func (w write) ok() bool { return w.Code >= 200 && w.Code < 300 }

// claimTemplate is the name of the sets' only claim template.
const claimTemplate = "data"

func petName(setName string, ord int) string { return setName + "-" + strconv.Itoa(ord) }

func claimName(setName string, ord int) string {
	return claimTemplate + "-" + petName(setName, ord)
}

// parseOrdinal splits "<set>-<N>" for a known set prefix.
func parseOrdinal(name, setName string) (int, bool) {
	rest, ok := strings.CutPrefix(name, setName+"-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
