package shuffleexec

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/spatedev/spate/shuffle"
)

// Pool is the memory budget of an engine's shuffles, shared by the tasks
// that run at once (in any number of jobs) and the map outputs their jobs
// keep in memory. What it counts is estimated (see Spiller): the records a
// map task buckets or combines ([Buckets], [MapSide]) and the tables of
// reduce tasks ([Reducer]). A task may hold an equal share of what the
// kept map outputs leave: limit minus kept, divided by the tasks running
// now; beyond it, the task spills to its file. A finished map task keeps
// its output in memory only while the kept outputs of every job stay
// within half the limit; otherwise the output goes to disk as well.
//
// A Pool is safe for concurrent use.
type Pool struct {
	limit  int64
	logger *slog.Logger

	mu     sync.Mutex
	used   int64 // held by running tasks
	kept   int64 // held by finished map outputs, until their job ends
	active int   // running tasks with a Spiller
	warned map[reflect.Type]bool

	spilled atomic.Int64 // bytes written to spill files, ever
}

// NewPool returns a pool of limit bytes; limit ≤ 0 is no budget: nothing
// is counted and nothing spills. logger (nil: slog.Default()) gets the
// warnings about record types that cannot spill.
func NewPool(limit int64, logger *slog.Logger) *Pool {
	if logger == nil {
		logger = slog.Default()
	}
	return &Pool{limit: max(limit, 0), logger: logger, warned: map[reflect.Type]bool{}}
}

// Used returns the bytes counted now: held by running tasks and by kept map
// outputs.
func (p *Pool) Used() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used + p.kept
}

// SpilledBytes returns how many bytes the pool's tasks have written to
// spill files since it was made.
func (p *Pool) SpilledBytes() int64 { return p.spilled.Load() }

// share returns what one running task may hold. p.mu is held.
func (p *Pool) share() int64 { return (p.limit - p.kept) / int64(max(p.active, 1)) }

// grant gives sp n more bytes if its share allows, or if force.
func (p *Pool) grant(sp *Spiller, n int64, force bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !force && sp.held+n > p.share() {
		return false
	}
	p.used += n
	sp.held += n
	return true
}

func (p *Pool) release(sp *Spiller, n int64) {
	n = min(n, sp.held)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used -= n
	sp.held -= n
}

// warn logs, once per type, that records of type t cannot spill, and why.
func (p *Pool) warn(t reflect.Type, why, task string) {
	p.mu.Lock()
	seen := p.warned[t]
	p.warned[t] = true
	p.mu.Unlock()
	if !seen {
		p.logger.Warn("shuffle: records of this type cannot spill to disk: they stay in memory beyond the shuffle memory budget",
			slog.String("type", t.String()), slog.String("reason", why), slog.String("task", task))
	}
}

// Space is one job's place to spill: the directory of its spill files (made
// under a parent directory, itself made if missing, at the first spill) and
// the map outputs it keeps in memory. Close deletes the files and releases the memory; the job calls
// it when it ends, however it ends, once its tasks are done.
type Space struct {
	pool   *Pool
	parent string

	mu     sync.Mutex
	dir    string // "" until the first spill
	files  []*spillFile
	kept   int64
	closed bool
}

// NewSpace returns a job's space in p, with its files under dir.
func (p *Pool) NewSpace(dir string) *Space { return &Space{pool: p, parent: dir} }

// create makes a new spill file named after name.
func (s *Space) create(name string) (*spillFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &shuffle.SpillError{Path: s.parent, Op: "create", Err: errors.New("the job has ended")}
	}
	if s.dir == "" {
		err := os.MkdirAll(s.parent, 0o755)
		dir := ""
		if err == nil {
			dir, err = os.MkdirTemp(s.parent, "spate-shuffle-")
		}
		if err != nil {
			return nil, spillErr(s.parent, "make directory", err)
		}
		s.dir = dir
	}
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator || r == '*' {
			return '_'
		}
		return r
	}, name)
	f, err := os.CreateTemp(s.dir, name+"-*")
	if err != nil {
		return nil, spillErr(filepath.Join(s.dir, name), "create", err)
	}
	sf := &spillFile{path: f.Name(), f: f}
	s.files = append(s.files, sf)
	return sf, nil
}

// remove closes and deletes f before the job ends.
func (s *Space) remove(f *spillFile) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, g := range s.files {
		if g == f {
			s.files = append(s.files[:i], s.files[i+1:]...)
			break
		}
	}
	return errors.Join(f.f.Close(), os.Remove(f.path))
}

// keep moves n bytes that sp holds to the space's kept outputs, if the
// kept outputs of the pool stay within half its limit.
func (s *Space) keep(sp *Spiller, n int64) bool {
	p := s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	n = min(n, sp.held)
	if p.kept+n > p.limit/2 {
		return false
	}
	p.used -= n
	sp.held -= n
	p.kept += n
	s.mu.Lock()
	s.kept += n
	s.mu.Unlock()
	return true
}

// unkeep gives back n bytes of the space's kept outputs to the pool.
func (s *Space) unkeep(n int64) {
	p := s.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, s.kept)
	s.kept -= n
	p.kept -= n
}

// Close deletes the space's files and directory and releases the memory of
// the map outputs it kept. The job's tasks must have ended. Calling it
// again does nothing.
func (s *Space) Close() error {
	p := s.pool
	p.mu.Lock() // the pool's lock first, as keep and unkeep take them
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		p.mu.Unlock()
		return nil
	}
	s.closed = true
	p.kept -= s.kept
	s.kept = 0
	p.mu.Unlock()
	var errs []error
	for _, f := range s.files {
		if err := f.f.Close(); err != nil {
			errs = append(errs, spillErr(f.path, "close", err))
		}
	}
	s.files = nil
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, spillErr(s.dir, "remove", err))
		}
	}
	return errors.Join(errs...)
}

// Spiller is one task's account in a Pool and its spill file. The task's
// buckets, map side or reducer reserve the bytes they estimate they hold
// (each type's size, plus what strings, slices and maps hold beyond it,
// sampled: see codec.heap); when a reservation would exceed the task's
// share, the owner spills what it holds to the file and releases it. A
// task that holds nothing always gets what it asks for, so that it
// progresses. A Spiller is used by one goroutine; nil is a valid Spiller
// that never spills.
type Spiller struct {
	space *Space
	pool  *Pool
	name  string
	held  int64
	file  *spillFile
	// free spills what the task holds and releases it: set by the owner
	// (a MapSide frees its table and its raw buckets together).
	free func() error
	// published: a map output refers to the file, which must then live
	// until the job ends.
	published bool
	closed    bool
}

// Spiller returns the account of a task named name (it names the task's
// spill file too), or nil when the pool has no limit. Close it when the
// task ends.
func (s *Space) Spiller(name string) *Spiller {
	if s == nil || s.pool.limit == 0 {
		return nil
	}
	p := s.pool
	p.mu.Lock()
	p.active++
	p.mu.Unlock()
	return &Spiller{space: s, pool: p, name: name}
}

// Close releases what the task still holds (not what a map output kept)
// and deletes its file unless a map output refers to it. The first
// failure to delete the file is returned.
func (sp *Spiller) Close() error {
	if sp == nil || sp.closed {
		return nil
	}
	sp.closed = true
	p := sp.pool
	p.mu.Lock()
	p.used -= sp.held
	sp.held = 0
	p.active--
	p.mu.Unlock()
	if sp.file != nil && !sp.published {
		f := sp.file
		sp.file = nil
		if err := sp.space.remove(f); err != nil {
			return spillErr(f.path, "remove", err)
		}
	}
	return nil
}

// reserve asks for n more bytes. Within the task's share they are granted.
// Beyond it, if the task holds anything and its owner can free it, the
// owner spills (free) and reserve returns spilled without reserving: the
// caller checks again what it needs. Otherwise the bytes are granted
// beyond the share: a task that holds nothing must progress.
func (sp *Spiller) reserve(n int64) (spilled bool, err error) {
	if sp == nil || n <= 0 {
		return false, nil
	}
	if sp.pool.grant(sp, n, false) {
		return false, nil
	}
	if sp.held > 0 && sp.free != nil {
		return true, sp.free()
	}
	sp.pool.grant(sp, n, true)
	return false, nil
}

// release gives back n bytes.
func (sp *Spiller) release(n int64) {
	if sp != nil && n > 0 {
		sp.pool.release(sp, n)
	}
}

// fileFor returns the task's spill file, made at the first call.
func (sp *Spiller) fileFor() (*spillFile, error) {
	if sp.file == nil {
		f, err := sp.space.create(sp.name)
		if err != nil {
			return nil, err
		}
		sp.file = f
	}
	return sp.file, nil
}

// wrote counts n bytes written to spill files.
func (sp *Spiller) wrote(n int64) { sp.pool.spilled.Add(n) }

// usable returns sp, or nil (with a warning) when values of c's type
// cannot be encoded: those are then kept in memory, uncounted.
func (sp *Spiller) usable(c *codec) *Spiller {
	if sp == nil || c.err == nil {
		return sp
	}
	sp.pool.warn(c.typ, c.err.Error(), sp.name)
	return nil
}

// maxEntries returns how many values of size bytes the task's share holds.
func (sp *Spiller) maxEntries(size int64) int {
	if sp == nil {
		return int(^uint(0) >> 1)
	}
	p := sp.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	return int(p.share() / max(size, 1))
}

// sampleEvery: one record in this many is sampled for what it holds beyond
// its size (types with strings, slices or maps).
const sampleEvery = 64

// sizer estimates the memory of records of one type: the type's size, and
// what records hold beyond it (string bytes, slice and map contents),
// averaged over one record in sampleEvery.
type sizer struct {
	c      *codec
	varSum int64 // heap bytes of the sampled records
	varN   int64 // sampled records
	adds   int
}

// due counts a record and reports whether it is one to sample. The
// caller then passes sample a pointer to the record where it is stored (a
// pointer to a copy on the stack would move the copy to the heap).
func (z *sizer) due() bool {
	if z.c.heap == nil {
		return false
	}
	z.adds++
	return z.adds%sampleEvery == 1
}

// sample adds what the record at p holds to the estimate.
func (z *sizer) sample(p unsafe.Pointer) {
	z.varSum += z.c.heap(p)
	z.varN++
}

// bytes estimates the memory of one record.
func (z *sizer) bytes() int64 {
	n := int64(z.c.size)
	if z.varN > 0 {
		n += z.varSum / z.varN
	}
	return n
}
