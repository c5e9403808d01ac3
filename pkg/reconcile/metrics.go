package reconcile

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// Metrics are the controller's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	syncs        prometheus.Counter
	syncErrors   prometheus.Counter
	syncDuration prometheus.Histogram
	petsCreated  prometheus.Counter
	petsDeleted  prometheus.Counter
}

// NewMetrics creates the controller's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kennel", Subsystem: "petset", Name: name, Help: help})
	}
	m := &Metrics{
		syncs:      counter("syncs_total", "PetSet syncs run."),
		syncErrors: counter("sync_errors_total", "PetSet syncs that returned an error and were requeued with backoff."),
		syncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "kennel", Subsystem: "petset", Name: "sync_duration_seconds",
			Help: "Duration of one PetSet sync.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 15)}),
		petsCreated: counter("pets_created_total", "Pets (pods) created."),
		petsDeleted: counter("pets_deleted_total", "Pets (pods) deleted."),
	}
	if reg != nil {
		reg.MustRegister(m.syncs, m.syncErrors, m.syncDuration, m.petsCreated, m.petsDeleted)
	}
	return m
}

func (m *Metrics) petCreated() {
	if m != nil {
		m.petsCreated.Inc()
	}
}

func (m *Metrics) petDeleted() {
	if m != nil {
		m.petsDeleted.Inc()
	}
}

func (m *Metrics) observeSync(seconds float64, err error) {
	if m == nil {
		return
	}
	m.syncs.Inc()
	m.syncDuration.Observe(seconds)
	if err != nil {
		m.syncErrors.Inc()
	}
}

// queueMetrics is a workqueue.MetricsProvider backed by Prometheus vectors
// labelled with the queue name.
type queueMetrics struct {
	depth, unfinished, longest *prometheus.GaugeVec
	adds, retries              *prometheus.CounterVec
	latency, work              *prometheus.HistogramVec
}

// NewQueueMetricsProvider returns a workqueue metrics provider whose metrics
// (kennel_workqueue_*) are registered with reg. Install it with
// workqueue.SetProvider before creating the controller.
func NewQueueMetricsProvider(reg prometheus.Registerer) workqueue.MetricsProvider {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "kennel", Subsystem: "workqueue", Name: name, Help: help}, []string{"name"})
	}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "kennel", Subsystem: "workqueue", Name: name, Help: help}, []string{"name"})
	}
	hist := func(name, help string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "kennel", Subsystem: "workqueue", Name: name, Help: help,
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 12)}, []string{"name"})
	}
	q := &queueMetrics{
		depth:      gauge("depth", "Current depth of the workqueue."),
		unfinished: gauge("unfinished_work_seconds", "Seconds of work in progress not yet observed by work_duration."),
		longest:    gauge("longest_running_processor_seconds", "Seconds the longest running processor has been running."),
		adds:       counter("adds_total", "Items added to the workqueue."),
		retries:    counter("retries_total", "Rate-limited re-adds to the workqueue."),
		latency:    hist("queue_duration_seconds", "Seconds an item waits in the workqueue before being processed."),
		work:       hist("work_duration_seconds", "Seconds processing an item from the workqueue takes."),
	}
	if reg != nil {
		reg.MustRegister(q.depth, q.unfinished, q.longest, q.adds, q.retries, q.latency, q.work)
	}
	return q
}

func (q *queueMetrics) NewDepthMetric(name string) workqueue.GaugeMetric {
	return q.depth.WithLabelValues(name)
}
func (q *queueMetrics) NewAddsMetric(name string) workqueue.CounterMetric {
	return q.adds.WithLabelValues(name)
}
func (q *queueMetrics) NewLatencyMetric(name string) workqueue.HistogramMetric {
	return q.latency.WithLabelValues(name)
}
func (q *queueMetrics) NewWorkDurationMetric(name string) workqueue.HistogramMetric {
	return q.work.WithLabelValues(name)
}
func (q *queueMetrics) NewUnfinishedWorkSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return q.unfinished.WithLabelValues(name)
}
func (q *queueMetrics) NewLongestRunningProcessorSecondsMetric(name string) workqueue.SettableGaugeMetric {
	return q.longest.WithLabelValues(name)
}
func (q *queueMetrics) NewRetriesMetric(name string) workqueue.CounterMetric {
	return q.retries.WithLabelValues(name)
}
