package prometheus

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spatedev/spate/dstream"
	"github.com/spatedev/spate/source/kafka"
)

// Collector is a prometheus.Collector of one dstream.Context's metrics (see the
// package documentation for the list). It is safe for concurrent use.
type Collector struct {
	err error // why the Collector cannot collect (New's arguments), told at registration

	batches      *prometheus.CounterVec
	records      *prometheus.CounterVec
	ckptFailures prometheus.Counter
	processing   prometheus.Histogram
	scheduling   prometheus.Histogram
	totalDelay   prometheus.Histogram
	ckptWrite    prometheus.Histogram

	active, lastBatch, unavailable, stateKeys *prometheus.Desc
	lag, rateLimit, committed                 *prometheus.Desc
	progRatio, progCompleted, progTarget      *prometheus.Desc

	mu       sync.Mutex
	queued   map[time.Time]bool // batches submitted, not started
	running  map[time.Time]bool // batches started, not completed
	last     time.Time          // the batch time of the last batch completed without error
	unavail  map[string]bool    // by input, of the last batch completed
	keys     map[string]int64   // by state, of the last batch completed
	parts    map[string]map[kafka.TopicPartition]partState
	offsets  map[commitKey]int64
	progress map[progressKey]dstream.Progress
}

// partState is what the collector shows of a partition an input reads.
type partState struct {
	lag       int64 // -1: not known
	rateLimit float64
}

type commitKey struct {
	group string
	tp    kafka.TopicPartition
}

type progressKey struct{ op, subject string }

// An Opt configures a Collector (see New). Opts are made only by this package's
// functions: ConstLabels and DelayBuckets. A nil Opt is no option.
type Opt interface{ applyCollector(*options) }

// collectorOpt is an Opt.
type collectorOpt func(*options)

func (f collectorOpt) applyCollector(o *options) { f(o) }

type options struct {
	labels     prometheus.Labels
	buckets    []float64
	bucketsSet bool
}

// ConstLabels adds labels with fixed values to every metric of the Collector, to tell
// apart the Contexts of one process registered on one registry (two Collectors with
// the same labels cannot both be registered). The names must be valid label names,
// none of the Collector's own labels or le. Default: none.
func ConstLabels(l prometheus.Labels) Opt { return collectorOpt(func(o *options) { o.labels = l }) }

// DelayBuckets sets the upper bounds, in seconds, of the buckets of the batch delay
// histograms (spate_batch_processing_seconds, spate_batch_scheduling_delay_seconds,
// spate_batch_total_delay_seconds); there must be at least one, and they must
// increase. Default: the batch interval
// times 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5 and 10, so that the
// bucket of le = the interval counts the batches that kept up (prometheus.DefBuckets
// if the Context has no batch interval).
func DelayBuckets(seconds ...float64) Opt {
	return collectorOpt(func(o *options) { o.buckets, o.bucketsSet = seconds, true })
}

// intervalFactors are the default delay buckets, in batch intervals.
var intervalFactors = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 5, 10}

// New returns a Collector of c's metrics and adds it to c's listeners (it may be
// called before or while c runs: it hears the batches after it). Register it on a
// registry to expose them. Invalid options are a construction error of c (see
// dstream.Context.ReportInvalid): c's Run fails before its first batch, naming the
// options; and, as for a nil c, the Collector's registration fails, saying why.
func New(c *dstream.Context, opts ...Opt) *Collector {
	var o options
	for _, opt := range opts {
		if opt != nil {
			opt.applyCollector(&o)
		}
	}
	col := &Collector{
		queued: map[time.Time]bool{}, running: map[time.Time]bool{}, unavail: map[string]bool{}, keys: map[string]int64{},
		parts: map[string]map[kafka.TopicPartition]partState{}, offsets: map[commitKey]int64{}, progress: map[progressKey]dstream.Progress{},
	}
	buckets := o.buckets
	if !o.bucketsSet {
		buckets = prometheus.DefBuckets
		if c != nil && c.BatchInterval() > 0 {
			buckets = make([]float64, len(intervalFactors))
			for i, f := range intervalFactors {
				buckets[i] = f * c.BatchInterval().Seconds()
			}
		}
	}
	// Labels of the metrics, which constant labels must not repeat.
	labels := []string{"status", "input", "state", "topic", "partition", "group", "op", "subject", "unit"}
	var errs []error
	if _, le := o.labels["le"]; le || prometheus.NewDesc("spate", "", labels, o.labels).Err() != nil {
		errs = append(errs, fmt.Errorf("ConstLabels(%v), want valid label names, none of %v or le", o.labels, labels))
		o.labels = nil // the metrics are made, never collected
	}
	if len(buckets) == 0 || !slices.IsSorted(buckets) || slices.ContainsFunc(buckets, math.IsNaN) || len(slices.Compact(slices.Clone(buckets))) != len(buckets) {
		errs = append(errs, fmt.Errorf("DelayBuckets(%v), want increasing upper bounds", buckets))
		buckets = prometheus.DefBuckets // as above
	}
	if len(errs) > 0 && c != nil {
		c.ReportInvalid("metrics/prometheus.New", errors.Join(errs...))
	}
	if c == nil {
		errs = append([]error{errors.New("nil dstream.Context")}, errs...)
	}
	if len(errs) > 0 {
		col.err = fmt.Errorf("metrics/prometheus.New: %w", errors.Join(errs...))
	}
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, o.labels)
	}
	hist := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, ConstLabels: o.labels, Buckets: buckets})
	}
	col.batches = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spate_batches_total", ConstLabels: o.labels,
		Help: "Batches completed, by status: completed (without error) or failed."}, []string{"status"})
	col.records = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "spate_input_records_total", ConstLabels: o.labels,
		Help: "Records read by the batches completed without error, by input stream."}, []string{"input"})
	col.ckptFailures = prometheus.NewCounter(prometheus.CounterOpts{Name: "spate_checkpoint_failures_total", ConstLabels: o.labels,
		Help: "Batches whose checkpoint could not be written."})
	col.processing = hist("spate_batch_processing_seconds", "How long batches took to process (their output operations).", buckets)
	col.scheduling = hist("spate_batch_scheduling_delay_seconds", "How long batches waited in the queue before their processing started.", buckets)
	col.totalDelay = hist("spate_batch_total_delay_seconds", "Scheduling delay plus processing time of batches.", buckets)
	col.ckptWrite = hist("spate_checkpoint_write_seconds", "How long writing a batch's checkpoint took.", prometheus.DefBuckets)
	col.active = desc("spate_active_batches", "Batches queued (generated, waiting) or processing.", "state")
	col.lastBatch = desc("spate_last_batch_timestamp_seconds", "Batch time of the last batch completed without error, in seconds since the Unix epoch.")
	col.unavailable = desc("spate_input_unavailable", "1 if the input could not read all it should for the last batch (see dstream.InputInfo.Unavailable), else 0.", "input")
	col.stateKeys = desc("spate_state_keys", "Keys each named stateful stream holds in this process after the last batch.", "state")
	col.lag = desc("spate_kafka_lag_records", "Records of a Kafka partition left to read after the last batch: the log end when it was planned minus where it read up to.", "input", "topic", "partition")
	col.rateLimit = desc("spate_kafka_rate_limit_records_per_second", "Records per second rate control let the last batch read from a Kafka partition, when it held the batch back.", "input", "topic", "partition")
	col.committed = desc("spate_kafka_committed_offset", "Last offset committed for a Kafka partition by a consumer group: the next one to read.", "group", "topic", "partition")
	col.progRatio = desc("spate_progress_ratio", "How far long work under way (a restore, a catch-up) has gone, from 0 to 1, when its total is known.", "op", "subject")
	col.progCompleted = desc("spate_progress_completed", "Units long work under way has done.", "op", "subject", "unit")
	col.progTarget = desc("spate_progress_target", "Units long work under way has to do, when known.", "op", "subject", "unit")
	for _, s := range []string{"completed", "failed"} {
		col.batches.WithLabelValues(s) // both series from the start
	}
	if col.err == nil {
		c.AddListener(listener{col})
	}
	return col
}

// Describe sends the descriptions of every metric of the Collector.
func (col *Collector) Describe(ch chan<- *prometheus.Desc) {
	if col.err != nil {
		ch <- prometheus.NewInvalidDesc(col.err)
		return
	}
	for _, m := range col.metrics() {
		m.Describe(ch)
	}
	for _, d := range []*prometheus.Desc{col.active, col.lastBatch, col.unavailable, col.stateKeys, col.lag, col.rateLimit,
		col.committed, col.progRatio, col.progCompleted, col.progTarget} {
		ch <- d
	}
}

// metrics returns the metrics the Collector keeps as client_golang's.
func (col *Collector) metrics() []prometheus.Collector {
	return []prometheus.Collector{col.batches, col.records, col.ckptFailures, col.processing, col.scheduling, col.totalDelay, col.ckptWrite}
}

// Collect sends the current value of every metric.
func (col *Collector) Collect(ch chan<- prometheus.Metric) {
	if col.err != nil {
		ch <- prometheus.NewInvalidMetric(prometheus.NewInvalidDesc(col.err), col.err)
		return
	}
	for _, m := range col.metrics() {
		m.Collect(ch)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		for i, l := range labels {
			labels[i] = validLabel(l)
		}
		m, err := prometheus.NewConstMetric(d, prometheus.GaugeValue, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	gauge(col.active, float64(len(col.queued)), "queued")
	gauge(col.active, float64(len(col.running)), "processing")
	if !col.last.IsZero() {
		gauge(col.lastBatch, float64(col.last.UnixNano())/1e9)
	}
	for in, un := range col.unavail {
		gauge(col.unavailable, map[bool]float64{false: 0, true: 1}[un], in)
	}
	for st, n := range col.keys {
		gauge(col.stateKeys, float64(n), st)
	}
	for in, parts := range col.parts {
		for tp, p := range parts {
			part := strconv.Itoa(tp.Partition)
			if p.lag >= 0 {
				gauge(col.lag, float64(p.lag), in, tp.Topic, part)
			}
			if p.rateLimit > 0 {
				gauge(col.rateLimit, p.rateLimit, in, tp.Topic, part)
			}
		}
	}
	for k, off := range col.offsets {
		gauge(col.committed, float64(off), k.group, k.tp.Topic, strconv.Itoa(k.tp.Partition))
	}
	for k, p := range col.progress {
		gauge(col.progCompleted, float64(p.Completed), k.op, k.subject, p.Unit)
		if p.Total > 0 {
			gauge(col.progTarget, float64(p.Total), k.op, k.subject, p.Unit)
			gauge(col.progRatio, float64(p.Completed)/float64(p.Total), k.op, k.subject)
		}
	}
}

// Committed records a commit of Kafka offsets (spate_kafka_committed_offset): pass
// it to the Kafka streams of the Context with kafka.OnCommit(col.Committed).
func (col *Collector) Committed(info kafka.CommitInfo) {
	col.mu.Lock()
	defer col.mu.Unlock()
	for tp, off := range info.Offsets {
		col.offsets[commitKey{info.Group, tp}] = off
	}
}

// listener is how the Collector hears its Context, so that the listener methods are
// not part of its API.
type listener struct{ col *Collector }

var _ dstream.ProgressListener = listener{}

func (l listener) OnBatchSubmitted(b dstream.BatchInfo) {
	l.col.mu.Lock()
	defer l.col.mu.Unlock()
	l.col.queued[b.Time] = true
}

func (l listener) OnBatchStarted(b dstream.BatchInfo) {
	l.col.mu.Lock()
	defer l.col.mu.Unlock()
	delete(l.col.queued, b.Time)
	l.col.running[b.Time] = true
}

func (listener) OnOutputStarted(dstream.OutputInfo)   {}
func (listener) OnOutputCompleted(dstream.OutputInfo) {}

func (l listener) OnBatchCompleted(b dstream.BatchInfo) {
	col := l.col
	status := "completed"
	if b.Err != nil {
		status = "failed"
	}
	col.batches.WithLabelValues(status).Inc()
	col.processing.Observe(b.ProcessingDelay().Seconds())
	col.scheduling.Observe(b.SchedulingDelay().Seconds())
	col.totalDelay.Observe(b.TotalDelay().Seconds())
	if b.CheckpointDuration > 0 || b.CheckpointErr != nil {
		col.ckptWrite.Observe(b.CheckpointDuration.Seconds())
	}
	if b.CheckpointErr != nil {
		col.ckptFailures.Inc()
	}
	if b.Err == nil {
		for in, info := range b.Inputs {
			if info.Records >= 0 { // else the input cannot tell
				col.records.WithLabelValues(validLabel(in)).Add(float64(info.Records))
			}
		}
	}

	col.mu.Lock()
	defer col.mu.Unlock()
	delete(col.queued, b.Time)
	delete(col.running, b.Time)
	for in, info := range b.Inputs {
		col.unavail[in] = info.Unavailable != nil
	}
	col.keys = maps.Clone(b.StateKeys)
	if b.Err != nil {
		return // the batch's ranges were not processed: the lags stay those of the last one
	}
	if b.Time.After(col.last) {
		col.last = b.Time
	}
	before := col.readSet()
	for in, info := range b.Inputs {
		old := col.parts[in]
		now := make(map[kafka.TopicPartition]partState, len(info.Partitions))
		for _, p := range info.Partitions {
			tp := kafka.TopicPartition{Topic: p.Topic, Partition: p.Partition}
			st := partState{lag: p.Lag(), rateLimit: p.RateLimit}
			if p.End < 0 { // a batch produced again from a checkpoint: the lag is not known
				st.lag = -1
				if prev, ok := old[tp]; ok {
					st.lag = prev.lag
				}
			}
			now[tp] = st
		}
		col.parts[in] = now
	}
	// The partitions no longer read (a rebalance gave them to another member, a
	// topic was deleted): their committed offsets are another member's to tell.
	after := col.readSet()
	for k := range col.offsets {
		if before[k.tp] && !after[k.tp] {
			delete(col.offsets, k)
		}
	}
}

// readSet returns the partitions the inputs read in the last batch. col.mu is held.
func (col *Collector) readSet() map[kafka.TopicPartition]bool {
	set := map[kafka.TopicPartition]bool{}
	for _, parts := range col.parts {
		for tp := range parts {
			set[tp] = true
		}
	}
	return set
}

func (l listener) OnProgress(p dstream.Progress) {
	l.col.mu.Lock()
	defer l.col.mu.Unlock()
	k := progressKey{p.Op, p.Subject}
	if p.Done {
		delete(l.col.progress, k)
		return
	}
	l.col.progress[k] = p
}

// validLabel returns v as a valid label value: invalid UTF-8 (a stream or state
// named so) replaced, where client_golang would panic.
func validLabel(v string) string { return strings.ToValidUTF8(v, "\uFFFD") }
