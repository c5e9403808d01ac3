package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/kennel-dev/kennel/pkg/ordinal"
	"github.com/kennel-dev/kennel/test/plane"
)

type config struct {
	binDir         string
	peerFinder     string
	manifests      []string
	onStart        string
	namespace      string
	controller     string
	controllerArgs []string
	crds           string
	keepRunning    bool
	dataDir        string
}

// setInfo is what the demo reads from the set's manifest.
type setInfo struct {
	kind     string
	name     string
	service  string
	replicas int
	selector map[string]string
}

// demo holds the state of one run.
type demo struct {
	cfg   config
	out   io.Writer
	p     *plane.Plane
	set   setInfo
	start time.Time

	mu    sync.Mutex // serializes output lines and peers
	peers map[string][]string
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	for _, f := range []string{cfg.peerFinder, cfg.onStart} {
		if _, err := os.Stat(f); err != nil {
			return err
		}
	}
	var err error
	if cfg.onStart, err = filepath.Abs(cfg.onStart); err != nil {
		return err
	}
	set, err := readSet(cfg.manifests)
	if err != nil {
		return err
	}
	d := &demo{cfg: cfg, out: out, set: set, peers: map[string][]string{}}

	d.say("==> starting the local control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok (3 simulated nodes), CoreDNS")
	p, err := plane.Start(ctx, plane.Options{
		BinDir:  cfg.binDir,
		DataDir: cfg.dataDir,
		Nodes:   3,
		Logf: func(format string, args ...any) {
			d.say("    " + fmt.Sprintf(format, args...))
		},
	})
	if err != nil {
		return interrupted(ctx, err)
	}
	d.p = p
	defer func() {
		d.say("==> stopping the plane")
		p.Stop()
	}()
	d.say("    cluster DNS (CoreDNS, cluster.local): %s", p.DNSAddr())

	stopController, err := d.setUp(ctx)
	if err != nil {
		return interrupted(ctx, err)
	}
	defer stopController()
	if err := d.bringUp(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		var b bytes.Buffer
		p.Dump(&b)
		d.say("%s", b.String())
		return err
	}
	d.summary()

	if !cfg.keepRunning {
		return nil
	}
	d.say("\n==> the plane keeps running until Ctrl-C. In another shell:")
	d.say("    export KUBECONFIG=%s", p.Kubeconfig())
	d.say("    %s get pods,pvc -n %s -o wide", filepath.Join(p.BinDir(), "kubectl"), cfg.namespace)
	<-ctx.Done()
	return nil
}

// interrupted replaces err by a short message when the demo was interrupted
// (Ctrl-C), which cancels ctx and so fails whatever was in progress.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.New("interrupted; everything stopped")
	}
	return err
}

// setUp creates the namespace, starts the controller if one is given and
// applies the CRDs and manifests.
func (d *demo) setUp(ctx context.Context) (stopController func(), err error) {
	stopController = func() {}
	c := d.p.Client()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: d.cfg.namespace}}
	if _, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return stopController, err
	}
	if err := waitFor(ctx, func() bool {
		_, err := c.CoreV1().ServiceAccounts(d.cfg.namespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	}); err != nil {
		return stopController, fmt.Errorf("waiting for the default ServiceAccount: %w", err)
	}
	if d.cfg.crds != "" {
		d.say("==> kubectl apply -f %s", d.cfg.crds)
		if err := d.kubectl(ctx, "apply", "-f", d.cfg.crds); err != nil {
			return stopController, err
		}
		if err := d.waitEstablished(ctx); err != nil {
			return stopController, err
		}
	}
	if d.cfg.controller != "" {
		args := append([]string{"--kubeconfig=" + d.p.Kubeconfig()}, d.cfg.controllerArgs...)
		logPath := filepath.Join(d.p.Dir(), "logs", "kennel-controller.log")
		d.say("==> starting the kennel PetSet controller (%s) against the plane (log: %s)", d.cfg.controller, logPath)
		ctl, err := plane.StartProcess("kennel-controller", d.cfg.controller, args, logPath)
		if err != nil {
			return func() {}, err
		}
		stopController = func() { ctl.Stop(5 * time.Second) }
	}
	d.say("==> kubectl apply -n %s -f %s   (%s %q: %d pets, headless Service %q)",
		d.cfg.namespace, strings.Join(d.cfg.manifests, ","), d.set.kind, d.set.name, d.set.replicas, d.set.service)
	d.say("    The nodes are simulated by kwok: no container runs. peer-finder runs here as a local")
	d.say("    process for each pet, standing in for the pet's init container; the pet is held")
	d.say("    NotReady (annotation %s) until its peer-finder has run.", plane.AnnotationHoldReady)
	d.start = time.Now()
	return stopController, d.kubectl(ctx, "apply", "-n", d.cfg.namespace, "-f", strings.Join(d.cfg.manifests, ","))
}

// waitEstablished polls until every applied CRD is Established (kubectl
// wait fails on a CRD whose status has no conditions yet).
func (d *demo) waitEstablished(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	kubectl := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, filepath.Join(d.p.BinDir(), "kubectl"),
			append([]string{"--kubeconfig=" + d.p.Kubeconfig()}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	names, err := kubectl("get", "-f", d.cfg.crds, "-o", "name")
	if err != nil {
		return fmt.Errorf("kubectl get -f %s: %w: %s", d.cfg.crds, err, names)
	}
	for _, name := range strings.Fields(names) {
		var last string
		for last != "True" {
			last, _ = kubectl("get", name, "-o", `jsonpath={.status.conditions[?(@.type=="Established")].status}`)
			if last == "True" {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not Established: %w (last: %q)", name, ctx.Err(), last)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

// bringUp follows the pets until all are Ready, running peer-finder for each
// pet that starts and releasing it when peer-finder's on-start is done.
func (d *demo) bringUp(ctx context.Context) error {
	c := d.p.Client()
	type petState struct{ seen, running, finder, ready bool }
	state := map[string]*petState{}
	errs := make(chan error, d.set.replicas)
	deadline := time.NewTimer(3 * time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		pods, err := c.CoreV1().Pods(d.cfg.namespace).List(ctx, metav1.ListOptions{
			LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: d.set.selector}),
		})
		if err != nil && ctx.Err() == nil {
			return err
		}
		ready := 0
		if pods != nil {
			sort.Slice(pods.Items, func(i, j int) bool { return ordinal.Compare(pods.Items[i].Name, pods.Items[j].Name) < 0 })
			for i := range pods.Items {
				pod := &pods.Items[i]
				st := state[pod.Name]
				if st == nil {
					st = &petState{}
					state[pod.Name] = st
				}
				if !st.seen {
					st.seen = true
					d.event(pod.Name, "created, scheduled to %s", orNone(pod.Spec.NodeName))
				}
				if !st.running && pod.Status.Phase == corev1.PodRunning {
					st.running = true
					d.event(pod.Name, "running, pod IP %s, claim %s", pod.Status.PodIP, d.claimPhase(ctx, pod))
				}
				if st.running && !st.finder {
					st.finder = true
					go func(name string) { errs <- d.runPeerFinder(ctx, name) }(pod.Name)
				}
				if plane.PodReady(pod) {
					ready++
					if !st.ready {
						st.ready = true
						d.event(pod.Name, "Ready")
					}
				}
			}
		}
		if ready >= d.set.replicas {
			d.event("", "all %d pets Ready", ready)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			if err != nil {
				return err
			}
		case <-deadline.C:
			return errors.New("the pets were not all Ready within 3 minutes")
		case <-tick.C:
		}
	}
}

// runPeerFinder runs peer-finder for one pet (init-container mode) and then
// lets the pet become Ready.
func (d *demo) runPeerFinder(ctx context.Context, pet string) error {
	outFile := filepath.Join(d.p.Dir(), "peers-"+pet)
	args := []string{
		"--service=" + d.set.service,
		"--ns=" + d.cfg.namespace,
		"--domain=" + plane.ClusterDomain,
		"--hostname=" + pet,
		"--dns-server=" + d.p.DNSAddr(),
		"--on-start=" + d.cfg.onStart,
		"--timeout=60s",
	}
	d.event(pet, "peer-finder %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, d.cfg.peerFinder, args...)
	cmd.Env = append(os.Environ(), "DEMO_PEERS_OUT="+outFile)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	output, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(output), "\n"), "\n") {
		if line != "" {
			d.event(pet, "  | %s", line)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("peer-finder for %s: %w", pet, err)
	}
	data, err := os.ReadFile(outFile)
	if err != nil {
		return fmt.Errorf("peer-finder for %s did not run the on-start script: %w", pet, err)
	}
	d.mu.Lock()
	d.peers[pet] = strings.Fields(string(data))
	d.mu.Unlock()

	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:null}}}`, plane.AnnotationHoldReady)
	if _, err := d.p.Client().CoreV1().Pods(d.cfg.namespace).Patch(ctx, pet, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("release %s: %w", pet, err)
	}
	d.event(pet, "on-start done; released (%s removed)", plane.AnnotationHoldReady)
	return nil
}

func (d *demo) summary() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sayLocked("\n==> peer list each pet's on-start saw (in order of start-up):")
	for i := range d.set.replicas {
		pet := ordinal.PetName(d.set.name, i)
		var short []string
		for _, fqdn := range d.peers[pet] {
			short = append(short, strings.SplitN(fqdn, ".", 2)[0])
		}
		d.sayLocked("    %-8s saw %d: %s", pet, len(short), strings.Join(short, " "))
	}
	d.sayLocked("    Each pet saw itself and the pets started before it: pet 0 can bootstrap, the others join.")
}

func (d *demo) claimPhase(ctx context.Context, pod *corev1.Pod) string {
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc, err := d.p.Client().CoreV1().PersistentVolumeClaims(d.cfg.namespace).Get(ctx, v.PersistentVolumeClaim.ClaimName, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		return fmt.Sprintf("%s %s", pvc.Name, pvc.Status.Phase)
	}
	return "none"
}

func (d *demo) kubectl(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(d.p.BinDir(), "kubectl"), append([]string{"--kubeconfig=" + d.p.Kubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if line != "" {
			d.say("    %s", line)
		}
	}
	if err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func (d *demo) event(pet, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if pet != "" {
		msg = fmt.Sprintf("%-6s %s", pet, msg)
	}
	d.say("[%6.2fs] %s", time.Since(d.start).Seconds(), msg)
}

func (d *demo) say(format string, args ...any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sayLocked(format, args...)
}

func (d *demo) sayLocked(format string, args ...any) {
	fmt.Fprintf(d.out, format+"\n", args...)
}

// readSet finds the set (StatefulSet or PetSet) among the manifest files.
func readSet(files []string) (setInfo, error) {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return setInfo{}, err
		}
		for _, doc := range splitYAML(data) {
			var obj struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
				Spec struct {
					Replicas    *int   `json:"replicas"`
					ServiceName string `json:"serviceName"`
					Selector    struct {
						MatchLabels map[string]string `json:"matchLabels"`
					} `json:"selector"`
				} `json:"spec"`
			}
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				return setInfo{}, fmt.Errorf("%s: %w", f, err)
			}
			if obj.Kind != "StatefulSet" && obj.Kind != "PetSet" {
				continue
			}
			s := setInfo{kind: obj.Kind, name: obj.Metadata.Name, service: obj.Spec.ServiceName, replicas: 1, selector: obj.Spec.Selector.MatchLabels}
			if obj.Spec.Replicas != nil {
				s.replicas = *obj.Spec.Replicas
			}
			if s.name == "" || s.service == "" || len(s.selector) == 0 {
				return setInfo{}, fmt.Errorf("%s: %s needs metadata.name, spec.serviceName and spec.selector.matchLabels", f, obj.Kind)
			}
			return s, nil
		}
	}
	return setInfo{}, fmt.Errorf("no StatefulSet or PetSet in %s", strings.Join(files, ", "))
}

func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "---" {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(sc.Bytes())
		cur.WriteByte('\n')
	}
	return append(docs, cur.Bytes())
}

func orNone(s string) string {
	if s == "" {
		return "(none yet)"
	}
	return s
}

func waitFor(ctx context.Context, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
