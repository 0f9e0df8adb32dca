package dstream

// stateMemory is the untyped view of a stateful stream's stores, for the Context to
// keep them within the memory budget and to delete their spill files.
type stateMemory interface {
	memBytes() int64
	evictTo(share float64) error
	close() error
}

// addStores registers a stateful stream's stores.
func (c *Context) addStores(m stateMemory) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stores = append(c.stores, m)
}

// fitStates moves cold state to the stores' spill files once the stores hold more
// than their part of the engine's memory budget (half of it: the rest is the
// shuffles'): every store keeps the same share of what it holds.
func (c *Context) fitStates() error {
	budget := c.eng.MemoryBudget() / 2
	if budget <= 0 || len(c.stores) == 0 {
		return nil
	}
	var total int64
	for _, m := range c.stores {
		total += m.memBytes()
	}
	if total <= budget {
		return nil
	}
	share := float64(budget) / float64(total)
	c.logger.Debug("dstream: the state stores hold more than their memory budget: spilling cold entries",
		"bytes", total, "budget", budget)
	for _, m := range c.stores {
		if err := m.evictTo(share); err != nil {
			return err
		}
	}
	return nil
}

// closeStores deletes the state stores' spill files, at the end of Run.
func (c *Context) closeStores() {
	for _, m := range c.stores {
		if err := m.close(); err != nil {
			c.logger.Warn("dstream: deleting a state store's spill file failed", "error", err)
		}
	}
}
