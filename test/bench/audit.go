package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/kennel-dev/kennel/test/plane"
)

// With ControllerConfig.Audit the API server logs every pod create and
// delete (metadata only: who, what, the response code), and each sample
// counts them by client and code: which component sent the DELETEs a
// scale-down cost, and how many of them found the pod already going (a
// 404, or a 409 on a UID precondition).

// The clients the audit log names the set controllers by: kennel's
// controller by its user agent, the StatefulSet controller by its service
// account.
const (
	kennelClient   = "kennel-controller"
	upstreamClient = "statefulset-controller"
)

const benchAuditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "delete"]
  resources: [{group: "", resources: [pods]}]
- level: None
`

// auditTail reads the lines appended to the audit log since its last read.
type auditTail struct{ tail plane.AuditTail }

// counts returns the pod writes logged since the last call, counted by
// "VERB pods by CLIENT CODE" (CLIENT: the user agent's program name).
func (a *auditTail) counts() (map[string]float64, error) {
	data, err := a.tail.Next()
	if err != nil {
		return nil, err
	}
	return countAudit(data)
}

func countAudit(data []byte) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev auditv1.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return out, fmt.Errorf("audit log: %w", err)
		}
		if ev.Stage != auditv1.StageResponseComplete || ev.ObjectRef == nil || ev.ObjectRef.Subresource != "" {
			continue
		}
		code := 0
		if ev.ResponseStatus != nil {
			code = int(ev.ResponseStatus.Code)
		}
		out[fmt.Sprintf("%s %s by %s %d", strings.ToUpper(ev.Verb), ev.ObjectRef.Resource, client(ev.User.Username, ev.UserAgent), code)] += 1
	}
	return out, sc.Err()
}

// client names who sent a request: a kube-controller-manager controller by
// its service account ("statefulset-controller"), anything else by the
// program of its user agent ("controller" of "controller/v0.0.0 (linux/amd64) …").
func client(user, userAgent string) string {
	if sa, ok := strings.CutPrefix(user, "system:serviceaccount:kube-system:"); ok {
		return sa
	}
	prog, _, _ := strings.Cut(userAgent, "/")
	if prog == "" {
		return "unknown"
	}
	return prog
}

// auditBreakdown formats the counts, sorted: "DELETE pods by kwok 200 100, …".
func auditBreakdown(c map[string]float64) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %g", k, c[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// auditNote says, for the last round of a scenario, who sent the pod
// creates and deletes on each side; empty without the audit log.
func auditNote(scenario string, bySide map[string][]sample) string {
	var parts []string
	for _, side := range []string{"kennel", "upstream", "client-loop"} {
		rs := bySide[side]
		if len(rs) == 0 || rs[len(rs)-1].pods == nil {
			continue
		}
		parts = append(parts, side+": "+auditBreakdown(rs[len(rs)-1].pods))
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("%s, last round, pod creates and deletes from the audit log, by client and response code: %s",
		scenario, strings.Join(parts, "; "))
}
