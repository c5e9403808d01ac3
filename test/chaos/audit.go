package chaos

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kennel-dev/kennel/test/plane"
)

// auditPolicy records the writes of the test namespace: Lease writes with
// their response (the holder); writes to the sets themselves, and pod
// creations and pod status writes (kwok's included), with their response
// (the object as stored: the checks learn every set change and every pet's
// phase and readiness from them, even those the recorder's watch missed
// while it relisted); claim creations with their request (the name); other
// writes to pods, claims, sets and revisions as metadata.
// Reads, kwok's pod status writes and events are left out.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  verbs: ["get", "list", "watch"]
- level: RequestResponse
  namespaces: [%[1]q]
  verbs: ["create", "update", "patch"]
  resources: [{group: "", resources: [pods, pods/status]}]
- level: None
  users: ["kwok", "system:kube-scheduler"]
- level: RequestResponse
  namespaces: [%[1]q]
  resources: [{group: coordination.k8s.io, resources: [leases]}]
- level: RequestResponse
  namespaces: [%[1]q]
  verbs: ["create", "update", "patch"]
  resources: [{group: apps, resources: [statefulsets]}, {group: kennel.dev, resources: [petsets]}]
- level: Request
  namespaces: [%[1]q]
  verbs: ["create"]
  resources: [{group: "", resources: [pods, persistentvolumeclaims]}]
- level: Metadata
  namespaces: [%[1]q]
  resources:
  - {group: "", resources: [pods, pods/status, persistentvolumeclaims, persistentvolumeclaims/status]}
  - {group: apps, resources: [statefulsets, statefulsets/status, statefulsets/scale, controllerrevisions]}
  - {group: kennel.dev, resources: [petsets, petsets/status, petsets/scale]}
- level: None
`

// auditArgs writes the policy for the namespace under dir and returns
// the API server flags that log to dir/audit.log, and that path.
func auditArgs(dir, namespace string) ([]string, string, error) {
	return plane.AuditArgs(dir, fmt.Sprintf(auditPolicy, namespace))
}

// auditReader follows the audit log: each read returns the writes logged
// since the last one (whole lines only).
type auditReader struct{ tail plane.AuditTail }

func (a *auditReader) read() ([]write, error) {
	data, err := a.tail.Next()
	if err != nil || len(data) == 0 {
		return nil, err
	}
	return parseAudit(data)
}

func parseAudit(data []byte) ([]write, error) {
	var out []write
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return out, fmt.Errorf("audit log: %w", err)
		}
		if w, ok := toWrite(&ev); ok {
			out = append(out, w)
		}
	}
	return out, sc.Err()
}

func toWrite(ev *auditv1.Event) (write, bool) {
	if ev.Stage != auditv1.StageResponseComplete || ev.ObjectRef == nil {
		return write{}, false
	}
	w := write{
		At: ev.RequestReceivedTimestamp.Time, User: ev.User.Username, Verb: ev.Verb,
		Resource: ev.ObjectRef.Resource, Subresource: ev.ObjectRef.Subresource, Name: ev.ObjectRef.Name,
	}
	if ev.ImpersonatedUser != nil {
		w.User = ev.ImpersonatedUser.Username
	}
	if ev.ResponseStatus != nil {
		w.Code = int(ev.ResponseStatus.Code)
	}
	var meta struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			HolderIdentity *string `json:"holderIdentity"`
		} `json:"spec"`
	}
	if w.Name == "" && ev.RequestObject != nil && json.Unmarshal(ev.RequestObject.Raw, &meta) == nil {
		w.Name = meta.Metadata.Name
	}
	if w.Resource == "leases" && ev.ResponseObject != nil && json.Unmarshal(ev.ResponseObject.Raw, &meta) == nil && meta.Spec.HolderIdentity != nil {
		w.Holder = *meta.Spec.HolderIdentity
	}
	if (w.Resource == "petsets" || w.Resource == "statefulsets") && w.Subresource == "" && w.ok() && ev.ResponseObject != nil {
		// A PetSet reads into the StatefulSet type: same JSON shape.
		var ss appsv1.StatefulSet
		if json.Unmarshal(ev.ResponseObject.Raw, &ss) == nil && ss.Name != "" {
			s := observeSet(&ss)
			w.Set = &s
		}
	}
	if w.Resource == "pods" && (w.Subresource == "" || w.Subresource == "status") && w.Verb != "delete" && w.ok() && ev.ResponseObject != nil {
		var p corev1.Pod
		if json.Unmarshal(ev.ResponseObject.Raw, &p) == nil && p.Name != "" {
			w.Pod = &p
		}
	}
	return w, true
}
