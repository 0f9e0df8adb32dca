package kafka

import (
	"math"
	"sync"
	"time"
)

// pidEstimator is Spark's PIDRateEstimator: after each batch it proposes a new rate,
// in records per second, from the rate the batch was processed at and the backlog
// its scheduling delay shows.
type pidEstimator struct {
	interval time.Duration
	pid      PID

	mu          sync.Mutex
	first       bool
	latestTime  time.Time
	latestRate  float64
	latestError float64
}

func newPIDEstimator(interval time.Duration, pid PID) *pidEstimator {
	return &pidEstimator{interval: interval, pid: pid, first: true, latestRate: -1}
}

// compute takes a completed batch: when it ended, how many records it had, and its
// processing and scheduling delays. It returns the new rate, or ok false when there is
// none yet (the first batch only measures; a batch with no records or no processing
// time tells nothing).
func (e *pidEstimator) compute(end time.Time, records int64, processing, scheduling time.Duration) (rate float64, ok bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !end.After(e.latestTime) || records <= 0 || processing <= 0 {
		return 0, false
	}
	sinceUpdate := end.Sub(e.latestTime).Seconds()
	processingRate := float64(records) / processing.Seconds()
	err := e.latestRate - processingRate
	// The records that piled up during the scheduling delay, as a rate over one batch.
	historical := scheduling.Seconds() * processingRate / e.interval.Seconds()
	dErr := (err - e.latestError) / sinceUpdate
	newRate := math.Max(e.latestRate-e.pid.Proportional*err-e.pid.Integral*historical-e.pid.Derivative*dErr, e.pid.MinRate)
	e.latestTime = end
	if e.first {
		e.latestRate, e.latestError, e.first = processingRate, 0, false
		return 0, false
	}
	e.latestRate, e.latestError = newRate, err
	return newRate, true
}

// limits caps the records each partition reads in a batch (Spark's
// maxMessagesPerPartition). lag is each partition's records available past its
// position; rate is the limit over all partitions in records per second (from the
// estimator or the initial rate), 0 for none; maxRate is each partition's
// MaxRatePerPartition, 0 for no cap. The rate is split among partitions in
// proportion to their lag, so a lagging partition is not starved; each share is
// capped by the partition's maxRate, and no capped partition is held below minRate
// (a rate, where Spark's code takes it as records per batch). A partition missing
// from limit has no cap.
//
// With no rate, a partition whose maxRate is 0 has no cap, where Spark caps it to
// minRate records per batch if another partition has a max rate.
func limits(lag map[TopicPartition]int64, rate float64, maxRate map[TopicPartition]float64, minRate float64, interval time.Duration) (limit map[TopicPartition]int64) {
	perPart := make(map[TopicPartition]float64, len(lag))
	sum := 0.0
	if rate > 0 {
		total := int64(0)
		for _, l := range lag {
			total += l
		}
		for tp, l := range lag {
			share := 0.0
			if total > 0 {
				share = float64(l) / float64(total) * rate
			}
			if m := maxRate[tp]; m > 0 {
				share = math.Min(share, m)
			}
			perPart[tp] = share
			sum += share
		}
	} else {
		for tp := range lag {
			if m := maxRate[tp]; m > 0 {
				perPart[tp] = m
				sum += m
			}
		}
	}
	if sum <= 0 {
		return nil
	}
	secs := interval.Seconds()
	limit = make(map[TopicPartition]int64, len(perPart))
	for tp, r := range perPart {
		limit[tp] = max(int64(secs*r), int64(secs*minRate))
	}
	return limit
}
