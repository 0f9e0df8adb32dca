package dstream

import (
	"errors"
	"fmt"
	"time"
)

// isInput reports whether s is one of the Context's input streams.
func (c *Context) isInput(s *streamInfo) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, in := range c.inputs {
		if in.info() == s {
			return true
		}
	}
	return false
}

// namedInput is a checkpointed source and its name.
type namedInput struct {
	name string
	in   input
	src  CheckpointedSource
}

// checkpointNames returns the Context's sources and the stateful streams with
// state, by checkpoint name, or an error if names collide or a source cannot be
// checkpointed.
func (c *Context) checkpointNames() ([]namedInput, map[string]*streamInfo, error) {
	inputNames, stateNames, errs := c.stableNames()
	var inputs []namedInput
	for i, in := range c.inputs {
		src, ok := in.checkpointed()
		if !ok {
			errs = append(errs, fmt.Errorf("source %s cannot be checkpointed (it does not implement dstream.CheckpointedSource)", inputNames[i]))
			continue
		}
		inputs = append(inputs, namedInput{inputNames[i], in, src})
	}
	states := map[string]*streamInfo{}
	for in, n := range stateNames {
		if in.codec != nil { // (a windowed reduce's is not checkpointed)
			states[n] = in
		}
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("dstream: %w: checkpointing: %w", ErrInvalid, errors.Join(errs...))
	}
	return inputs, states, nil
}

// stableNames names the Context's sources (in order) and its stateful streams with
// state (those an output computes) as checkpoints and changelogs know them: the
// name given by Named, else the operator's name and its rank among the streams of
// that operator. errs lists the names that collide.
func (c *Context) stableNames() (inputs []string, states map[*streamInfo]string, errs []error) {
	count := map[string]int{}
	name := func(in *streamInfo) string {
		if in.ckptName != "" {
			return in.ckptName
		}
		count[in.name]++
		return fmt.Sprintf("%s#%d", in.name, count[in.name])
	}
	seen := map[string]bool{}
	for _, in := range c.inputs {
		n := name(in.info())
		if seen[n] {
			errs = append(errs, fmt.Errorf("two sources named %q", n))
		}
		seen[n] = true
		inputs = append(inputs, n)
	}
	states = map[*streamInfo]string{}
	used := c.usedStatefuls()
	for _, s := range c.statefuls {
		in := s.info()
		if in.codec == nil && !in.tasked || !used[s] {
			continue // no output computes it (it has no state), or its state is not saved
		}
		n := name(in)
		if seen[n] {
			errs = append(errs, fmt.Errorf("two streams named %q", n))
		}
		seen[n] = true
		states[in] = n
	}
	return inputs, states, errs
}

// usedStatefuls returns the stateful streams that an output operation is computed
// from: the others are never computed (as in Spark, a stream no output reads is not
// part of the job).
func (c *Context) usedStatefuls() map[statefulStream]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	used := map[statefulStream]bool{}
	for _, o := range c.outputs {
		for _, st := range o.states {
			used[st] = true
		}
	}
	return used
}

// history is how long before a resumed batch the graph reads batches: the longest
// time a stream keeps its past RDDs for its windows.
func (c *Context) history() time.Duration {
	h := time.Duration(0)
	for _, s := range c.streams {
		h = max(h, s.info().keep)
	}
	return h
}
