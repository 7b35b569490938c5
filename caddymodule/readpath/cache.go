package readpath

import (
	"sync"
	"sync/atomic"
	"time"
)

// key names a cached file by what decided how it was opened: the site
// root, the token scope it was confined to, and the request path. The same
// path read under two scopes is two entries, so a link one scope may
// follow is never served to a token whose scope would refuse it.
type key struct {
	root, scope, path string
}

// entry is one small file held in memory with the headers file_server
// would send for it, computed once.
type entry struct {
	filename string // site root joined with the path, for the stat
	id       fileID
	data     []byte
	name     string    // base name, for http.ServeContent
	modTime  time.Time // zero when file_server would not send it

	etag, lastModified, contentType, contentLength string

	used    atomic.Bool  // set on every hit, cleared by the eviction sweep
	checked atomic.Int64 // when the disk was last checked (unix ns), with Revalidate
	watched atomic.Bool  // a change to the file drops it (Watch): no stat needed while in the cache
}

// entryOverhead approximates an entry's memory beside its data.
const entryOverhead = 512

func (e *entry) cost() int64 { return int64(len(e.data)+len(e.filename)) + entryOverhead }

// cache holds entries up to a total cost. Lookups take a read lock and
// mark the entry used; an insert that overflows evicts with a second-chance
// sweep over the map's (random) iteration order: recently used entries get
// cleared and passed over once, idle ones go first.
type cache struct {
	mu    sync.RWMutex
	m     map[key]*entry
	bytes int64
	max   int64
	stats *metrics
}

func newCache(maxBytes int64, stats *metrics) *cache {
	return &cache{m: make(map[key]*entry), max: maxBytes, stats: stats}
}

func (c *cache) get(k key) *entry {
	c.mu.RLock()
	e := c.m[k]
	c.mu.RUnlock()
	if e != nil && !e.used.Load() {
		e.used.Store(true)
	}
	return e
}

// put stores e under k, replacing what was there, and evicts until the
// total fits. An entry larger than the whole cache is not stored. When
// vouch (called under the lock) says so, e is marked watched: a drop, made
// under the same lock, then comes either before, and vouch knows of its
// event, or after, and unwatches e.
func (c *cache) put(k key, e *entry, vouch func() bool) {
	cost := e.cost()
	if cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[k]; old != nil {
		c.forget(k, old)
	}
	if vouch != nil && vouch() {
		e.watched.Store(true)
	}
	c.m[k] = e
	c.bytes += cost
	for c.bytes > c.max && c.evictOne(k) {
	}
	c.stats.setBytes(c.bytes)
}

// evictOne removes one entry other than keep; false if none is left.
func (c *cache) evictOne(keep key) bool {
	for pass := 0; pass < 2; pass++ {
		for k, e := range c.m {
			if k == keep {
				continue
			}
			if pass == 0 && e.used.Load() {
				e.used.Store(false)
				continue
			}
			c.forget(k, e)
			c.stats.evicted()
			return true
		}
	}
	return false
}

// forget removes the entry e under k and its cost (callers hold mu). It
// is no longer watched: a request that found it before may not trust it.
func (c *cache) forget(k key, e *entry) {
	delete(c.m, k)
	c.bytes -= e.cost()
	e.watched.Store(false)
}

// remove drops e if it is still the entry under k.
func (c *cache) remove(k key, e *entry) {
	c.mu.Lock()
	if c.m[k] == e {
		c.forget(k, e)
		c.stats.setBytes(c.bytes)
	}
	c.mu.Unlock()
}

// dropUnder forgets the files at or below path, an absolute name ("" or
// "/": every file), for the watcher.
func (c *cache) dropUnder(path string) {
	c.mu.Lock()
	for k, e := range c.m {
		if isUnder(e.filename, path) {
			c.forget(k, e)
		}
	}
	c.stats.setBytes(c.bytes)
	c.mu.Unlock()
}

// isUnder reports whether name is dir or below it ("" and "/" hold all).
func isUnder(name, dir string) bool {
	if dir == "" || dir == "/" || name == dir {
		return true
	}
	return len(name) > len(dir) && name[len(dir)] == '/' && name[:len(dir)] == dir
}

// len is the number of entries, for tests.
func (c *cache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
