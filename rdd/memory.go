package rdd

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/spatedev/spate/internal/shuffleexec"
)

// MemoryBudget sets how many bytes the engine's users may hold in memory for data
// that can go to disk: shuffle outputs, and the state of stateful streams. Half of it
// is the shuffles': the records map tasks bucket and combine, the map outputs kept
// until their job ends and the reduce side's tables, beyond which they spill to files
// in SpillDir. Package dstream keeps the other half for
// its state stores, which move their cold entries to files beyond that. bytes must
// not be negative; 0: no budget, nothing spills. Default: half the memory the
// process may use (its cgroup's limit, else the machine's), or no budget where
// neither can be read.
func MemoryBudget(bytes int64) EngineOpt {
	return engineOpt(func(e *Engine) error {
		if bytes < 0 {
			return fmt.Errorf("MemoryBudget(%d), want at least 0 (0: no budget)", bytes)
		}
		e.memoryBudget, e.budgetSet = bytes, true
		return nil
	})
}

// SpillDir sets the directory where data beyond the memory budget goes, in files
// deleted when they are no longer needed (a shuffle's, when the action that ran it
// returns, however it ends: each action that spills makes a directory of its own
// there). dir must not be empty. Default: os.TempDir().
func SpillDir(dir string) EngineOpt {
	return engineOpt(func(e *Engine) error {
		if dir == "" {
			return errors.New(`SpillDir(""), want a directory`)
		}
		e.spillDir = dir
		return nil
	})
}

// MemoryBudget returns the engine's memory budget in bytes; 0: none.
func (e *Engine) MemoryBudget() int64 {
	if !e.budgetSet {
		return defaultBudget()
	}
	return e.memoryBudget
}

// SpillDir returns the directory data beyond the memory budget goes to.
func (e *Engine) SpillDir() string {
	if e.spillDir == "" {
		return os.TempDir()
	}
	return e.spillDir
}

// ShuffleSpilledBytes returns how many bytes the engine's shuffles have written to
// spill files since it was made: 0 while every shuffle fitted its share of the
// memory budget.
func (e *Engine) ShuffleSpilledBytes() int64 { return e.shufflePool().SpilledBytes() }

// shufflePool returns the memory pool of the engine's shuffles: half the
// budget.
func (e *Engine) shufflePool() *shuffleexec.Pool {
	e.poolOnce.Do(func() { e.pool = shuffleexec.NewPool(e.MemoryBudget()/2, e.logger) })
	return e.pool
}

// defaultBudget is half the memory the process may use: its cgroup's limit if it has
// one, else the machine's memory; 0 if neither can be read.
var defaultBudget = sync.OnceValue(readDefaultBudget)

func readDefaultBudget() int64 {
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			return n / 2
		}
	}
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil && len(fields) == 2 && fields[1] == "kB" {
				return n * 1024 / 2
			}
		}
	}
	return 0
}
