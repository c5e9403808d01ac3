package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"

	kennelv1 "github.com/kennel-dev/kennel/pkg/apis/kennel/v1"
	versioned "github.com/kennel-dev/kennel/pkg/generated/clientset/versioned"
	kennelinformers "github.com/kennel-dev/kennel/pkg/generated/informers/externalversions"
	"github.com/kennel-dev/kennel/pkg/reconcile"
	"github.com/kennel-dev/kennel/pkg/version"
)

// Run runs the controller until ctx is done or leadership is lost.
func Run(ctx context.Context, opts *Options, stdout io.Writer) error {
	if opts.Version {
		_, err := fmt.Fprintln(stdout, version.Version)
		return err
	}
	if err := opts.Validate(); err != nil {
		return err
	}
	logger := klog.FromContext(ctx)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// With leader election every API write passes a fence that closes
	// as soon as this replica may have lost the Lease (fence.go).
	var fence *leaseFence
	if opts.LeaderElect {
		fence = newLeaseFence(opts.RenewDeadline)
	}
	kube, kennel, err := newClients(opts, fence)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	workqueue.SetProvider(reconcile.NewQueueMetricsProvider(reg))
	recorder, stopEvents := newRecorder(ctx, kube)
	defer stopEvents()

	// Cached objects are trimmed to what the controller reads.
	kubeFactory := kubeinformers.NewSharedInformerFactoryWithOptions(kube, 0,
		kubeinformers.WithNamespace(opts.Namespace), kubeinformers.WithTransform(reconcile.TrimForCache))
	kennelFactory := kennelinformers.NewSharedInformerFactoryWithOptions(kennel, 0,
		kennelinformers.WithNamespace(opts.Namespace), kennelinformers.WithTransform(reconcile.TrimForCache))
	ctrl, err := reconcile.NewController(ctx, kube, kennel,
		kennelFactory.Kennel().V1().PetSets(),
		kubeFactory.Core().V1().Pods(),
		kubeFactory.Core().V1().PersistentVolumeClaims(),
		kubeFactory.Core().V1().Services(),
		kubeFactory.Apps().V1().ControllerRevisions(),
		recorder, reconcile.Options{Metrics: reconcile.NewMetrics(reg)})
	if err != nil {
		return err
	}
	// Informers run on every replica, so a standby is warm and ready.
	kubeFactory.Start(ctx.Done())
	kennelFactory.Start(ctx.Done())
	defer func() {
		// Shutdown waits for the informers, which stop only once ctx is
		// cancelled: cancel first, or a replica that lost its Lease would
		// hang here instead of exiting.
		cancel()
		kubeFactory.Shutdown()
		kennelFactory.Shutdown()
	}()

	var electorCheck *leaderelection.HealthzAdaptor
	if opts.LeaderElect {
		electorCheck = leaderelection.NewLeaderHealthzAdaptor(20 * time.Second)
	}
	stopServers, err := startServers(ctx, opts, reg, healthMux(ctrl.HasSynced, electorCheck))
	defer stopServers()
	if err != nil {
		return err
	}
	if !opts.LeaderElect {
		return ctrl.Run(ctx, opts.Workers)
	}
	return runElected(ctx, opts, kube, electorCheck, fence, func(ctx context.Context) error {
		return ctrl.Run(ctx, opts.Workers)
	}, logger)
}

// newClients returns the clientsets the controller talks to the API server
// with, at the configured QPS and with kennel's user agent; with a fence,
// their writes pass it.
func newClients(opts *Options, fence *leaseFence) (kubernetes.Interface, versioned.Interface, error) {
	config, err := restConfig(opts.Kubeconfig)
	if err != nil {
		return nil, nil, err
	}
	config.QPS, config.Burst = opts.QPS, opts.Burst
	config.UserAgent = "kennel-controller/" + version.Version
	// No gzip, as kube-controller-manager and kube-scheduler ask: the API
	// server would otherwise compress the informers' watch-list streams,
	// which costs its CPU and ours to save bandwidth a controller next to
	// it does not need.
	config.DisableCompression = true
	if fence != nil {
		config.Wrap(func(rt http.RoundTripper) http.RoundTripper { return fencedTransport{next: rt, fence: fence} })
	}
	// Built-in kinds travel as protobuf, as kube-controller-manager's do:
	// cheaper to decode than JSON. PetSets (a custom resource) stay JSON.
	kubeConfig := rest.CopyConfig(config)
	kubeConfig.ContentType = runtime.ContentTypeProtobuf
	kubeConfig.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	kube, err := kubernetes.NewForConfig(kubeConfig)
	if err != nil {
		return nil, nil, err
	}
	kennel, err := versioned.NewForConfig(config)
	if err != nil {
		return nil, nil, err
	}
	return kube, kennel, nil
}

// newRecorder returns an EventRecorder that knows the kennel.dev types and
// writes Events through kube, and the function that stops it.
func newRecorder(ctx context.Context, kube kubernetes.Interface) (record.EventRecorder, func()) {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(kennelv1.AddToScheme(scheme))
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return broadcaster.NewRecorder(scheme, corev1.EventSource{Component: "kennel-controller"}), broadcaster.Shutdown
}

// startServers serves metrics and health on their addresses ("0" or empty
// turns one off) and returns the function that shuts down those started.
func startServers(ctx context.Context, opts *Options, reg *prometheus.Registry, health http.Handler) (func(), error) {
	var servers []*http.Server
	stop := func() {
		shutdownCtx, done := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer done()
		for _, s := range servers {
			_ = s.Shutdown(shutdownCtx)
		}
	}
	if opts.MetricsAddr != "0" && opts.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		if opts.Profiling {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		s, err := serve(ctx, opts.MetricsAddr, mux)
		if err != nil {
			return stop, fmt.Errorf("metrics endpoint: %w", err)
		}
		servers = append(servers, s)
	}
	if opts.HealthAddr != "0" && opts.HealthAddr != "" {
		s, err := serve(ctx, opts.HealthAddr, health)
		if err != nil {
			return stop, fmt.Errorf("health endpoint: %w", err)
		}
		servers = append(servers, s)
	}
	return stop, nil
}

// runElected runs work while holding the Lease. It returns nil when ctx is
// done (after releasing the Lease) and an error if leadership is lost, so
// that the process exits rather than keep acting without the Lease.
func runElected(ctx context.Context, opts *Options, kube kubernetes.Interface, check *leaderelection.HealthzAdaptor,
	fence *leaseFence, work func(context.Context) error, logger klog.Logger) error {
	host, _ := os.Hostname()
	id := host + "_" + string(uuid.NewUUID())
	ns := opts.LeaderElectNamespace
	if ns == "" {
		ns = podNamespace()
	}
	lock := fencedLock{fence: fence, Interface: &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: opts.LeaderElectID},
		Client:     kube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: id},
	}}
	var (
		led     atomic.Bool
		workErr atomic.Value
	)
	workDone := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   opts.LeaseDuration,
		RenewDeadline:   opts.RenewDeadline,
		RetryPeriod:     opts.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            opts.LeaderElectID,
		WatchDog:        check,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leCtx context.Context) {
				led.Store(true)
				logger.Info("Acquired leadership", "identity", id, "lease", ns+"/"+opts.LeaderElectID)
				defer close(workDone)
				if err := work(leCtx); err != nil {
					workErr.Store(err)
				}
			},
			OnStoppedLeading: func() {
				fence.lost()
				if led.Load() {
					logger.Info("Stopped leading", "identity", id)
				}
			},
			OnNewLeader: func(identity string) {
				if identity != id {
					logger.Info("Another replica leads", "leader", identity)
				}
			},
		},
	})
	if err != nil {
		return err
	}
	elector.Run(ctx)
	if led.Load() {
		// Run returns once the leading context is cancelled; wait for the
		// workers to stop before reporting.
		<-workDone
	}
	if err, _ := workErr.Load().(error); err != nil {
		return err
	}
	if ctx.Err() == nil {
		return errors.New("leader election lost")
	}
	return nil
}

// podNamespace returns the namespace of the service account the process
// runs as, or "default" outside a cluster.
func podNamespace() string {
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "default"
}

// restConfig builds the client config: an explicit kubeconfig, else the
// in-cluster config, else $KUBECONFIG or ~/.kube/config.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if c, err := rest.InClusterConfig(); err == nil {
		return c, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
}

// healthMux serves /healthz (the process and, when leading, its Lease
// renewal are alive) and /readyz (the informer caches have synced).
func healthMux(synced func() bool, elector *leaderelection.HealthzAdaptor) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if elector != nil {
			if err := elector.Check(r); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !synced() {
			http.Error(w, "informer caches not synced\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// serve listens on addr and serves h until ctx is done.
func serve(ctx context.Context, addr string, h http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			klog.FromContext(ctx).Error(err, "HTTP server failed", "addr", addr)
		}
	}()
	return s, nil
}
