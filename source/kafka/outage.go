package kafka

import (
	"errors"
	"sync"
	"time"
)

// ErrUnavailable is wrapped by the error of a batch that fails because its stream
// could not read for UnavailableTimeout (brokers unreachable, a consumer group that
// assigns nothing, a receiver's write-ahead log that cannot be written);
// dstream.InputInfo.Unavailable says why each batch read nothing until then.
var ErrUnavailable = errors.New("kafka: unavailable")

// ErrMissingTopic is wrapped by the error of a batch that fails because topics its
// Subscribe stream reads have not existed for MissingTopicTimeout.
var ErrMissingTopic = errors.New("kafka: topics do not exist")

// warnEvery is how often, at most, a condition that lasts is warned about again.
const warnEvery = 30 * time.Second

// The backoff between the offset lookups of a stream that cannot read, at later
// batches, and between a consumer group's failed attempts to join.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// backoff returns the wait after the n-th failure in a row (n >= 1): minBackoff
// doubling up to maxBackoff.
func backoff(n int) time.Duration {
	d := minBackoff
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// limiter lets an event through at most once per warnEvery. Its zero value is ready;
// it is safe for concurrent use.
type limiter struct {
	mu   sync.Mutex
	last time.Time
}

// allow reports whether an event at now may go through, and if so counts it.
func (l *limiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < warnEvery {
		return false
	}
	l.last = now
	return true
}

// warned reports whether an event went through since the last reset.
func (l *limiter) warned() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.last.IsZero()
}

// reset lets the next event through.
func (l *limiter) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.last = time.Time{}
}

// outage is a direct stream's inability to read, in the Context's clock: since when,
// how many batches read nothing, and when to look the offsets up again. Only the
// generator (Batch) uses it.
type outage struct {
	since    time.Time // zero: the stream reads
	batches  int       // batches that read nothing since
	failures int       // offset lookups failed in a row
	retryAt  time.Time // no offset lookup before
	last     error     // the last lookup's error, while waiting for retryAt
	warn     limiter
}

// down reports whether the stream cannot read now.
func (o *outage) down() bool { return !o.since.IsZero() }

// waiting returns the last lookup's error while a new lookup must wait (backoff).
func (o *outage) waiting(now time.Time) error {
	if o.last != nil && now.Before(o.retryAt) {
		return o.last
	}
	return nil
}

// lookupFailed records a failed offset lookup and when to try again.
func (o *outage) lookupFailed(now time.Time, err error) {
	o.failures++
	o.last, o.retryAt = err, now.Add(backoff(o.failures))
}

// unreadable records a batch at now that read nothing; first is true if the stream
// could read at the batch before.
func (o *outage) unreadable(now time.Time) (lasted time.Duration, first bool) {
	if first = o.since.IsZero(); first {
		o.since = now
	}
	o.batches++
	return now.Sub(o.since), first
}

// readable records a batch at now that could read, and returns how long the outage
// before it lasted and how many batches it emptied (0 if there was none).
func (o *outage) readable(now time.Time) (lasted time.Duration, batches int) {
	if o.since.IsZero() {
		return 0, 0
	}
	lasted, batches = now.Sub(o.since), o.batches
	o.since, o.batches, o.failures, o.last, o.retryAt = time.Time{}, 0, 0, nil, time.Time{}
	o.warn.reset()
	return lasted, batches
}
