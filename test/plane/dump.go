package plane

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DumpLogLines is how many lines of each component log Dump prints.
const DumpLogLines = 25

// Dump writes what helps to understand a failure: nodes, pods, PVCs, PVs and
// events in every namespace, and the last lines of every component's log.
func (p *Plane) Dump(w io.Writer) {
	p.DumpNamespaces(w, metav1.NamespaceAll)
	p.DumpLogs(w, DumpLogLines)
}

// DumpNamespaces writes nodes, then pods, PVCs and events of the given
// namespaces (metav1.NamespaceAll for all), then PVs.
func (p *Plane) DumpNamespaces(w io.Writer, namespaces ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	DumpObjects(ctx, w, p.client, namespaces...)
}

// DumpLogs writes the last n lines of each component's log.
func (p *Plane) DumpLogs(w io.Writer, n int) {
	p.mu.Lock()
	procs := append([]*process(nil), p.procs...)
	p.mu.Unlock()
	for _, proc := range procs {
		state := "running"
		if done, err := proc.exited(); done {
			state = err.Error()
		}
		fmt.Fprintf(w, "\n--- %s (%s): last %d lines of %s ---\n%s\n", proc.name, state, n, proc.logPath, proc.tail(n))
	}
}

// DumpObjects writes nodes, pods, PVCs and events of the namespaces, then PVs,
// as tables.
func DumpObjects(ctx context.Context, w io.Writer, c kubernetes.Interface, namespaces ...string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()

	if nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		fmt.Fprintf(tw, "nodes: %v\n", err)
	} else {
		fmt.Fprintln(tw, "\nNODE\tREADY\tPOD CIDR\tTAINTS")
		for _, n := range nodes.Items {
			var taints []string
			for _, t := range n.Spec.Taints {
				taints = append(taints, t.Key+":"+string(t.Effect))
			}
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\n", n.Name, nodeReady(&n), n.Spec.PodCIDR, strings.Join(taints, ","))
		}
	}
	for _, ns := range namespaces {
		label := ns
		if label == "" {
			label = "all namespaces"
		}
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			fmt.Fprintf(tw, "pods in %s: %v\n", label, err)
		} else {
			fmt.Fprintf(tw, "\nPODS (%s)\nNAMESPACE\tNAME\tPHASE\tREADY\tNODE\tIP\tDELETING\tANNOTATIONS\tAGE\n", label)
			for _, pod := range pods.Items {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\t%v\t%s\t%s\n", pod.Namespace, pod.Name, pod.Status.Phase,
					PodReady(&pod), pod.Spec.NodeName, pod.Status.PodIP, pod.DeletionTimestamp != nil,
					kennelAnnotations(pod.Annotations), age(pod.CreationTimestamp.Time))
			}
		}
		pvcs, err := c.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			fmt.Fprintf(tw, "pvcs in %s: %v\n", label, err)
		} else {
			fmt.Fprintf(tw, "\nPVCS (%s)\nNAMESPACE\tNAME\tPHASE\tVOLUME\tCAPACITY\tAGE\n", label)
			for _, pvc := range pvcs.Items {
				capacity := pvc.Status.Capacity[corev1.ResourceStorage]
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", pvc.Namespace, pvc.Name, pvc.Status.Phase,
					pvc.Spec.VolumeName, capacity.String(), age(pvc.CreationTimestamp.Time))
			}
		}
		events, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			fmt.Fprintf(tw, "events in %s: %v\n", label, err)
		} else {
			items := events.Items
			sort.SliceStable(items, func(i, j int) bool { return eventTime(&items[i]).Before(eventTime(&items[j])) })
			const maxEvents = 150
			if len(items) > maxEvents {
				items = items[len(items)-maxEvents:]
			}
			fmt.Fprintf(tw, "\nEVENTS (%s, last %d)\nTIME\tNAMESPACE\tOBJECT\tTYPE\tREASON\tMESSAGE\n", label, len(items))
			for _, e := range items {
				fmt.Fprintf(tw, "%s\t%s\t%s/%s\t%s\t%s\t%s\n", eventTime(&e).Format("15:04:05.000"), e.Namespace,
					e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Type, e.Reason, oneLine(e.Message))
			}
		}
	}
	if pvs, err := c.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{}); err != nil {
		fmt.Fprintf(tw, "pvs: %v\n", err)
	} else {
		fmt.Fprintln(tw, "\nPV\tPHASE\tCLAIM\tCAPACITY")
		for _, pv := range pvs.Items {
			claim := ""
			if ref := pv.Spec.ClaimRef; ref != nil {
				claim = ref.Namespace + "/" + ref.Name
			}
			capacity := pv.Spec.Capacity[corev1.ResourceStorage]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", pv.Name, pv.Status.Phase, claim, capacity.String())
		}
	}
}

// PodReady reports whether the pod's Ready condition is True.
func PodReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func kennelAnnotations(a map[string]string) string {
	var out []string
	for k, v := range a {
		if strings.HasPrefix(k, "kennel.dev/") {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	default:
		return e.CreationTimestamp.Time
	}
}

func age(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return time.Since(t).Round(100 * time.Millisecond).String()
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}
