package ui

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/spatedev/spate/dstream"
)

// status is where a batch is in its life.
type status int

const (
	queued status = iota
	processing
	completed
	failed
)

func (s status) String() string {
	switch s {
	case queued:
		return "queued"
	case processing:
		return "processing"
	case failed:
		return "failed"
	default:
		return "completed"
	}
}

// batch is what the page knows of one batch. A batch is never changed once the
// state holds it: an event replaces it with a changed copy, so a snapshot can
// read it without the lock.
type batch struct {
	info    dstream.BatchInfo
	status  status
	outputs []dstream.OutputInfo // in the order they started
}

// outputCounts returns how many of the batch's outputs succeeded, failed and run.
func (b *batch) outputCounts() (ok, bad, running int) {
	for _, o := range b.outputs {
		switch {
		case o.End.IsZero():
			running++
		case o.Err != nil:
			bad++
		default:
			ok++
		}
	}
	return ok, bad, running
}

// work is the last report of one piece of long work, and when it was heard.
type work struct {
	p     dstream.Progress
	heard time.Time // by the Context's clock
}

// state is the listener that the page reads: the active batches, the last
// retained completed ones, the totals since the page started listening, and the
// progress of long work.
type state struct {
	clock    dstream.Clock
	retained int

	mu      sync.Mutex
	version uint64 // changes with every event, for the page's polls
	active  map[int64]*batch
	done    []*batch // completed batches, oldest first, at most retained
	// Totals since the listener was added.
	completed, failed, records int64
	lastErr                    *batch // the last failed batch
	lastCkptErr                *batch // the last batch whose checkpoint failed
	lastUnavailable            *batch // the last batch with an unavailable input
	work                       map[[2]string]work
	finished                   []work // the work that ended, the latest last, at most maxFinished
}

// maxFinished is how many pieces of finished long work the page shows.
const maxFinished = 10

func newState(clock dstream.Clock, retained int) *state {
	return &state{clock: clock, retained: retained, active: map[int64]*batch{}, work: map[[2]string]work{}}
}

// update replaces the active batch of time t by f's change of a copy of it
// (created with info if the listener missed its earlier events).
func (s *state) update(info dstream.BatchInfo, f func(b *batch)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	b := &batch{info: info}
	if old := s.active[info.Time.UnixNano()]; old != nil {
		*b = *old
	}
	f(b)
	s.active[info.Time.UnixNano()] = b
}

// OnBatchSubmitted records a queued batch.
func (s *state) OnBatchSubmitted(info dstream.BatchInfo) {
	s.update(info, func(b *batch) { b.info, b.status = info, queued })
}

// OnBatchStarted records that a batch started processing.
func (s *state) OnBatchStarted(info dstream.BatchInfo) {
	s.update(info, func(b *batch) { b.info, b.status = info, processing })
}

// OnOutputStarted records an output operation that started.
func (s *state) OnOutputStarted(o dstream.OutputInfo) {
	s.update(dstream.BatchInfo{Time: o.Batch}, func(b *batch) {
		if b.status == queued {
			b.status = processing
		}
		b.outputs = append(slices.Clip(b.outputs), o)
	})
}

// OnOutputCompleted records an output operation that ended.
func (s *state) OnOutputCompleted(o dstream.OutputInfo) {
	s.update(dstream.BatchInfo{Time: o.Batch}, func(b *batch) {
		b.outputs = slices.Clone(b.outputs)
		i := slices.IndexFunc(b.outputs, func(x dstream.OutputInfo) bool { return x.Index == o.Index && x.End.IsZero() })
		if i < 0 {
			b.outputs = append(b.outputs, o)
			return
		}
		b.outputs[i] = o
	})
}

// OnBatchCompleted moves a batch from the active ones to the completed ones.
func (s *state) OnBatchCompleted(info dstream.BatchInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	b := &batch{info: info, status: completed}
	if old := s.active[info.Time.UnixNano()]; old != nil {
		b.outputs = old.outputs
		delete(s.active, info.Time.UnixNano())
	}
	if info.Err != nil {
		b.status = failed
		s.failed++
		s.lastErr = b
	} else {
		s.completed++
	}
	if info.CheckpointErr != nil {
		s.lastCkptErr = b
	}
	for _, in := range info.Inputs {
		if in.Unavailable != nil {
			s.lastUnavailable = b
		}
	}
	s.records += info.NumRecords
	if len(s.done) >= s.retained {
		s.done = slices.Delete(s.done, 0, len(s.done)-s.retained+1)
	}
	s.done = append(s.done, b)
}

// OnProgress records how far long work has gone.
func (s *state) OnProgress(p dstream.Progress) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version++
	k := [2]string{p.Op, p.Subject}
	if !p.Done {
		s.work[k] = work{p: p, heard: now}
		return
	}
	delete(s.work, k)
	if len(s.finished) >= maxFinished {
		s.finished = slices.Delete(s.finished, 0, 1)
	}
	s.finished = append(s.finished, work{p: p, heard: now})
}

// snapshot is a consistent copy of the state, read without the lock.
type snapshot struct {
	version                           uint64
	active                            []*batch // by time
	done                              []*batch // oldest first
	completed, failed, records        int64
	lastErr, lastCkptErr, lastUnavail *batch
	work                              []work // by op and subject
	finished                          []work // the latest first
}

func (s *state) snapshot() snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := snapshot{
		version: s.version, done: slices.Clone(s.done),
		completed: s.completed, failed: s.failed, records: s.records,
		lastErr: s.lastErr, lastCkptErr: s.lastCkptErr, lastUnavail: s.lastUnavailable,
		finished: slices.Clone(s.finished),
	}
	for _, b := range s.active {
		sn.active = append(sn.active, b)
	}
	slices.SortFunc(sn.active, func(a, b *batch) int { return a.info.Time.Compare(b.info.Time) })
	for _, w := range s.work {
		sn.work = append(sn.work, w)
	}
	slices.SortFunc(sn.work, func(a, b work) int {
		return cmp.Or(cmp.Compare(a.p.Op, b.p.Op), cmp.Compare(a.p.Subject, b.p.Subject))
	})
	slices.Reverse(sn.finished)
	return sn
}

// batchAt returns the active or retained batch of time t.
func (s *state) batchAt(t time.Time) (*batch, uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.active[t.UnixNano()]; ok {
		return b, s.version, true
	}
	i, ok := slices.BinarySearchFunc(s.done, t, func(b *batch, t time.Time) int { return cmp.Compare(b.info.Time.UnixNano(), t.UnixNano()) })
	if !ok {
		return nil, s.version, false
	}
	return s.done[i], s.version, true
}
