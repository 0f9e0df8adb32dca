package dstream

import (
	"context"
	"errors"
	"fmt"
)

// Service is what an output operation keeps for the length of a Context's Run, such
// as a Kafka producer that a sink writes every batch through instead of opening one
// per batch. Spark's equivalent is a lazily created singleton per executor, which
// nothing closes; here Run starts and stops it.
//
// A service may also implement BatchCommitter, called after the sources' CommitBatch
// (a transaction that the sources and outputs wrote into is committed there), and
// BatchCompleter, called before the sources' BatchCompleted with every batch, failed
// ones included (where such a transaction is aborted): steps 5 and 8 of "Order of a
// batch" in the package doc.
type Service interface {
	// Start is called by Run once the sources have started, before the first
	// batch; ctx ends when Run ends. An error fails Run, naming the service.
	Start(ctx context.Context) error
	// Stop is called by Run after the last batch it processes (or its failure),
	// before the sources stop. An error is logged, and is Run's error if nothing
	// else failed.
	Stop() error
	// String names the service in errors and logs.
	String() string
}

// AddService registers s, to be started and stopped by the Context's Run. Like an
// output operation, a service added once Run has started fails that Run.
func (c *Context) AddService(s Service) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s == nil {
		c.errs = append(c.errs, fmt.Errorf("dstream: AddService (called at %s): %w: nil service", callerOutside(), ErrInvalid))
		return
	}
	if c.started {
		err := fmt.Errorf("dstream: AddService(%v) (called at %s): %w: services cannot be added after Run started", s, callerOutside(), ErrInvalid)
		c.errs = append(c.errs, err)
		if c.abort != nil {
			c.abort(err)
		}
		return
	}
	c.services = append(c.services, s)
}

// startServices starts the services in order; on a failure it stops those started
// and returns the failure.
func (c *Context) startServices(ctx context.Context, services []Service) error {
	for i, s := range services {
		if err := s.Start(ctx); err != nil {
			_ = c.stopServices(services[:i]) // logged; the start's failure is the error
			return fmt.Errorf("dstream: starting %v: %w", s, err)
		}
	}
	return nil
}

// stopServices stops the services, last started first, logging each failure.
func (c *Context) stopServices(services []Service) error {
	var errs []error
	for i := len(services) - 1; i >= 0; i-- {
		s := services[i]
		if err := s.Stop(); err != nil {
			c.logger.Warn("dstream: stopping a service failed", "service", s.String(), "error", err)
			errs = append(errs, fmt.Errorf("dstream: stopping %v: %w", s, err))
		}
	}
	return errors.Join(errs...)
}
