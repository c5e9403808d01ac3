package chaos

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/kennel-dev/kennel/test/plane"
)

// namespace is where the sets, their Lease and the audit policy live.
const namespace = "chaos"

// Config configures Run.
type Config struct {
	Kind   Kind
	Rounds int
	Seed   int64
	// Dir receives the plane's data, the controllers' logs, the audit log
	// and the violations; created if missing.
	Dir string
	// PlaneBin is the plane's binary directory (KENNEL_PLANE_BIN).
	PlaneBin string
	// ControllerBin is kennel's controller binary (kind kennel).
	ControllerBin string
	// CRDDir is the kustomize directory of the PetSet CRD (deploy/crd).
	CRDDir string
	// ConvergeBound is how long a set may take to reach its spec after a
	// round's faults (default 3 minutes).
	ConvergeBound time.Duration
	Logf          func(format string, args ...any)
}

// harness is one run's state.
type harness struct {
	cfg    Config
	plane  *plane.Plane
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	sets   setClient
	info   kindInfo
	ns     string
	kennel *kennelReplicas
	rec    *recorder
	audit  *auditReader
	check  *Checker
	report *Report

	versions, maxVersion map[string]int

	ensureMu  sync.Mutex // one restart of a replica at a time
	mu        sync.Mutex
	heldPlane map[string]bool
	round     int
}

func (h *harness) logf(format string, args ...any) { h.cfg.Logf(format, args...) }

func (c *Config) validate() error {
	var errs []error
	if _, err := infoFor(c.Kind); err != nil {
		errs = append(errs, err)
	}
	if c.Rounds < 1 {
		errs = append(errs, fmt.Errorf("rounds must be at least 1, got %d", c.Rounds))
	}
	if c.Dir == "" {
		errs = append(errs, errors.New("no output directory"))
	}
	if c.Kind == KindKennel && (c.ControllerBin == "" || c.CRDDir == "") {
		errs = append(errs, errors.New("kind kennel needs the controller binary and the CRD directory"))
	}
	if c.ConvergeBound <= 0 {
		c.ConvergeBound = 3 * time.Minute
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return errors.Join(errs...)
}

// Run starts a plane, runs the rounds against the controller of cfg.Kind
// and returns the report. An error means the harness itself could not run
// (the report then holds what was measured until then).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	h := &harness{cfg: cfg, ns: namespace, heldPlane: map[string]bool{},
		versions: map[string]int{}, maxVersion: map[string]int{}}
	h.info, _ = infoFor(cfg.Kind)
	h.report = newReport(cfg)
	start := time.Now()
	defer func() { h.report.Elapsed = time.Since(start) }()
	stop, err := h.setUp(ctx)
	defer stop()
	if err != nil {
		return h.report, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { h.supervise(ctx) })
	defer func() { cancel(); wg.Wait() }()
	if err := h.settle(ctx, 0, "initial"); err != nil {
		return h.report, err
	}
	for i := 1; i <= cfg.Rounds; i++ {
		if err := h.runRound(ctx, i); err != nil {
			return h.report, fmt.Errorf("round %d (seed %d): %w", i, cfg.Seed, err)
		}
	}
	return h.report, nil
}

// setUp starts the plane, the recorder and the controllers, and creates the
// sets. stop tears everything down.
func (h *harness) setUp(ctx context.Context) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	args, auditLog, err := auditArgs(h.cfg.Dir, h.ns)
	if err != nil {
		return stop, err
	}
	h.audit = &auditReader{tail: plane.AuditTail{Path: auditLog}}
	h.plane, err = plane.Start(ctx, plane.Options{
		BinDir: h.cfg.PlaneBin, DataDir: filepath.Join(h.cfg.Dir, "plane"), KeepData: true,
		ExtraArgs: map[string][]string{"kube-apiserver": args}, Logf: h.cfg.Logf,
	})
	if err != nil {
		return stop, err
	}
	stops = append(stops, h.plane.Stop)
	h.kube = h.plane.Client()
	if h.dyn, err = dynamic.NewForConfig(h.plane.RESTConfig()); err != nil {
		return stop, err
	}
	h.sets = setClient{res: h.dyn.Resource(h.info.gvr).Namespace(h.ns)}
	if err := h.createObjects(ctx); err != nil {
		return stop, err
	}
	rctx, cancel := context.WithCancel(ctx)
	stops = append(stops, cancel)
	if h.rec, err = startRecorder(rctx, h.kube, h.dyn, h.info, h.ns, setNames()); err != nil {
		return stop, err
	}
	users := []string{"system:serviceaccount:kube-system:statefulset-controller"}
	if h.cfg.Kind == KindKennel {
		if err := h.startKennel(ctx); err != nil {
			return stop, err
		}
		stops = append(stops, h.kennel.stop)
		users = h.kennel.users()
	}
	h.check = NewChecker(h.info.kind, setNames(), users, h.cfg.Kind == KindKennel)
	return stop, nil
}

func (h *harness) createObjects(ctx context.Context) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}}
	if _, err := h.kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		return err
	}
	if h.cfg.Kind == KindKennel {
		if err := h.installCRD(ctx); err != nil {
			return err
		}
	}
	for _, s := range testSets {
		if _, err := h.kube.CoreV1().Services(h.ns).Create(ctx, headlessService(s.name), metav1.CreateOptions{}); err != nil {
			return err
		}
		obj, err := setObject(h.info, s)
		if err != nil {
			return err
		}
		if _, err := h.sets.res.Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create %s %s: %w", h.info.kind, s.name, err)
		}
	}
	return nil
}

// installCRD applies the PetSet CRD and waits until PetSets are served.
func (h *harness) installCRD(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, filepath.Join(h.plane.BinDir(), "kubectl"), "--kubeconfig="+h.plane.Kubeconfig(),
		"apply", "--server-side", "--field-manager=kennel-chaos", "-k", h.cfg.CRDDir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("install the PetSet CRD: %v: %s", err, out)
	}
	return poll(ctx, time.Minute, "PetSets served", func() (bool, error) {
		_, err := h.dyn.Resource(h.info.gvr).Namespace(h.ns).List(ctx, metav1.ListOptions{})
		return err == nil, nil
	})
}

func (h *harness) startKennel(ctx context.Context) error {
	h.kennel = &kennelReplicas{kube: h.kube, ns: h.ns}
	for _, name := range []string{"a", "b"} {
		r := &replica{name: name, user: "kennel-chaos-" + name, bin: h.cfg.ControllerBin, ns: h.ns,
			kubeconfig: filepath.Join(h.cfg.Dir, "controller-"+name+".kubeconfig"),
			logPath:    filepath.Join(h.cfg.Dir, "controller-"+name+".log")}
		if err := writeImpersonatingKubeconfig(h.plane.Kubeconfig(), r.kubeconfig, r.user); err != nil {
			return err
		}
		if err := r.start(); err != nil {
			return err
		}
		h.kennel.reps = append(h.kennel.reps, r)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, _, _, err := h.kennel.waitLeader(wctx)
	return err
}

func poll(ctx context.Context, limit time.Duration, what string, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
