package kafka

import (
	"context"
	"maps"
	"sync"
)

// committer commits queued offsets in order, from one goroutine.
type committer struct {
	asg assigner
	cfg config

	mu     sync.Mutex
	queue  []commitReq
	closed bool
	wake   chan struct{}
	done   chan struct{}
}

type commitReq struct {
	offsets map[TopicPartition]int64
	done    func(map[TopicPartition]int64, error)
}

func newCommitter(asg assigner, cfg config) *committer {
	return &committer{asg: asg, cfg: cfg, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (c *committer) start(ctx context.Context) {
	go func() {
		defer close(c.done)
		c.run(ctx)
	}()
}

func (c *committer) add(offsets map[TopicPartition]int64, done func(map[TopicPartition]int64, error)) {
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.queue = append(c.queue, commitReq{offsets, done})
	}
	c.mu.Unlock()
	if closed {
		if done != nil {
			done(nil, context.Canceled)
		}
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run commits until stop is called and the queue is empty. Everything queued when run
// wakes is merged into one commit, later offsets winning.
func (c *committer) run(ctx context.Context) {
	for {
		c.mu.Lock()
		reqs, closed := c.queue, c.closed
		c.queue = nil
		c.mu.Unlock()
		if len(reqs) == 0 {
			if closed {
				return
			}
			<-c.wake
			continue
		}
		merged := map[TopicPartition]int64{}
		for _, r := range reqs {
			maps.Copy(merged, r.offsets)
		}
		dropped, err := c.asg.commit(ctx, nil, merged)
		for _, tp := range dropped {
			delete(merged, tp)
		}
		if err != nil {
			c.cfg.logger.Error("kafka: commit failed", "group", c.cfg.groupID, "offsets", merged, "error", err)
		} else {
			c.cfg.logger.Debug("kafka: committed", "group", c.cfg.groupID, "offsets", merged)
			if len(dropped) > 0 {
				c.cfg.logger.Info("kafka: offsets of partitions no longer assigned not committed", "group", c.cfg.groupID, "partitions", dropped)
			}
			c.cfg.tellCommit(merged, false)
		}
		for _, r := range reqs {
			if r.done == nil {
				continue
			}
			mine := map[TopicPartition]int64{}
			for tp, off := range r.offsets {
				if _, ok := merged[tp]; ok {
					mine[tp] = off
				}
			}
			r.done(mine, err)
		}
	}
}

// stop commits what is queued and ends the goroutine.
func (c *committer) stop() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	<-c.done
}
