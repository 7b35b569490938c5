// Package readpath is caddy-valet's fast read path for small files: the
// http.handlers.valet_files handler, Caddy's file_server with an in-memory
// cache of small files in front of it. A hot file costs one stat(2) and a
// write from memory instead of a stat, open, fstat, read and close; every
// answer is the one file_server gives (the differential test in
// integration/readpath_test.go is its contract), and anything the cache does
// not handle is served by the embedded file_server itself. See
// docs/readpath.md.
package readpath

import (
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/fileserver"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/confine"
	"github.com/valetkey/caddy-valet/caddymodule/grant"
)

func init() {
	caddy.RegisterModule(Files{})
}

// Files serves static files like file_server (all of file_server's options
// apply, inline), answering GET and HEAD for small regular files from
// memory. A cached file is checked against the disk with one stat on every
// request, so a file changed, replaced, truncated or deleted is never served
// stale. Files are opened through the file system file_server would use:
// behind the gate, the gate's confined view of the token's scope (package
// confine), so a symbolic link cannot lead a read out of it.
type Files struct {
	fileserver.FileServer

	// CacheSize bounds the memory the cache holds, in bytes: file content
	// plus a fixed overhead per file. When a new file would pass it, older
	// files are evicted, least recently used first (approximately).
	// Default: 64 MiB.
	CacheSize int64 `json:"cache_size,omitempty"`

	// MaxFileSize is the largest file kept in memory, in bytes. Larger files
	// are streamed from disk on every request, never buffered.
	// Default: 1 MiB.
	MaxFileSize int64 `json:"max_file_size,omitempty"`

	// Revalidate is how long a cached file may be served without checking
	// the disk again: the bound on staleness. 0 (the default) checks with
	// one stat on every request; a positive duration stats a hot file at
	// most once per interval, for file systems where a stat is costly (a
	// network share), and a change made on disk may then be served stale
	// for up to that long.
	Revalidate caddy.Duration `json:"revalidate,omitempty"`

	// Watch drops a cached file when the kernel reports a change to it or
	// to a directory above it (Linux inotify), and serves it with one
	// ioctl instead of a stat: while the kernel holds a notice the gateway
	// has not handled yet, the file is checked by stat, so a change is
	// still seen by the very next request. Files on network shares, FUSE
	// or overlays, reached through a symbolic link, or whose watches the
	// kernel refused keep the stat (and Revalidate). Elsewhere than Linux
	// it changes nothing.
	Watch bool `json:"watch,omitempty"`

	fsmap   caddy.FileSystems
	watcher *watcher // nil unless Watch, on Linux
	logger  *zap.Logger
	cache   *cache
	stats   *metrics
	fast    bool   // the configuration lets the cache answer
	rootVar bool   // the root is the site's root directive, {http.vars.root}
	root    string // otherwise, the root without placeholders
}

// Defaults for the optional settings.
const (
	DefaultCacheSize   = 64 << 20
	DefaultMaxFileSize = 1 << 20
)

// racyWindow is how long after its last change a file stays uncached: a
// write within the file system's timestamp granularity of the read could
// leave size and times unchanged, so only files quiet for longer than any
// granularity in use (2 s covers FAT and 1 s network file systems) are
// cached. Such files are still served, from disk.
var racyWindow = 2 * time.Second

// CaddyModule returns the Caddy module information.
func (Files) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.valet_files",
		New: func() caddy.Module { return new(Files) },
	}
}

// Provision sets up the embedded file server and the cache.
func (f *Files) Provision(ctx caddy.Context) error {
	err := f.FileServer.Provision(ctx)
	if err != nil {
		return fmt.Errorf("valet_files: %w", err)
	}
	f.fsmap = ctx.FileSystems()
	f.logger = ctx.Logger()
	if f.CacheSize == 0 {
		f.CacheSize = DefaultCacheSize
	}
	if f.MaxFileSize == 0 {
		f.MaxFileSize = DefaultMaxFileSize
	}
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("valet_files: %w", err)
	}
	f.stats = newMetrics()
	f.cache = newCache(f.CacheSize, f.stats)
	f.rootVar = f.Root == "{http.vars.root}"
	if !f.rootVar {
		f.root = f.Root
	}
	f.fast = f.fastConfig()
	if f.Watch {
		if f.watcher, err = newWatcher(f.cache.dropUnder); err != nil {
			f.logger.Warn("valet_files: watch is off, cached files are revalidated by stat", zap.Error(err))
		}
	}
	return nil
}

// Cleanup stops watching.
func (f *Files) Cleanup() error {
	if f.watcher != nil {
		f.watcher.close()
	}
	return nil
}

// fastConfig reports whether the cache can give file_server's answers under
// this configuration. Options that change the answer per request or per
// file (another file system, precompressed sidecars, ETag files, a status
// override, placeholders in the root or hide list) leave every request to
// file_server.
func (f *Files) fastConfig() bool {
	if f.FileSystem != "{http.vars.fs}" || len(f.PrecompressedRaw) > 0 || f.EtagFileExtensions != nil || f.StatusCode != "" {
		return false
	}
	if !f.rootVar && strings.Contains(f.Root, "{") {
		return false
	}
	for _, h := range f.Hide {
		if strings.Contains(h, "{") {
			return false
		}
	}
	return true
}

// Validate refuses settings that cannot work.
func (f *Files) Validate() error {
	if f.CacheSize < 0 || f.MaxFileSize < 0 || f.Revalidate < 0 {
		return fmt.Errorf("valet_files: cache_size, max_file_size and revalidate must not be negative")
	}
	if f.MaxFileSize > f.CacheSize {
		return fmt.Errorf("valet_files: max_file_size (%d) must not exceed cache_size (%d)", f.MaxFileSize, f.CacheSize)
	}
	return nil
}

// ServeHTTP answers from the cache when it can, and otherwise reads the
// file itself (confined) or hands the request to file_server.
func (f *Files) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	k, fsys, ok := f.cacheKey(w, r)
	if !ok {
		f.stats.pass.Inc()
		return f.FileServer.ServeHTTP(w, r, next)
	}
	if e := f.cache.get(k); e != nil {
		if f.fresh(e) {
			f.stats.hit.Inc()
			return respond(w, r, e, nil)
		}
		f.cache.remove(k, e)
	}
	return f.load(w, r, next, k, fsys)
}

// fresh reports whether a cached file still is what the disk holds: yes
// for a watched file when the watcher has caught up with the kernel, else
// one stat, unless the file was checked less than Revalidate ago. watched
// is read again after caughtUp: a change made before the request began was
// then handled, and had it concerned e, its drop unwatched e, even if the
// lookup found e before that.
func (f *Files) fresh(e *entry) bool {
	if e.watched.Load() && f.watcher.caughtUp() && e.watched.Load() {
		return true
	}
	var now int64
	if f.Revalidate > 0 {
		now = time.Now().UnixNano()
		if now-e.checked.Load() < int64(f.Revalidate) {
			return true
		}
	}
	if id, err := statID(e.filename); err != nil || id != e.id {
		return false
	}
	if f.Revalidate > 0 {
		e.checked.Store(now)
	}
	return true
}

// cacheKey decides whether the request is one the read path answers and,
// if so, names its file and the file system to open it through: nil for
// the operating system's (Caddy's default, as file_server uses it), or the
// gate's confined view of the token's scope. Directories (a trailing
// slash: index files, redirects, listings), other methods, error routes,
// an operator's own file system, and paths file_server would clean first
// go to file_server.
func (f *Files) cacheKey(w http.ResponseWriter, r *http.Request) (key, *confine.FS, bool) {
	if !f.fast || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return key{}, nil, false
	}
	p := r.URL.Path
	if p == "" || p[len(p)-1] == '/' || path.Clean(p) != p {
		return key{}, nil, false
	}
	ctx := r.Context()
	if ctx.Value(caddyhttp.ErrorCtxKey) != nil {
		return key{}, nil, false
	}
	var fsys *confine.FS
	if name, _ := caddyhttp.GetVar(ctx, "fs").(string); name != "" {
		named, _ := f.fsmap.Get(name)
		if fsys = confinedFS(named); fsys == nil {
			return key{}, nil, false
		}
	} else if v := caddyhttp.GetVar(ctx, "fs"); v != nil && v != "" {
		return key{}, nil, false
	}
	if _, preset := w.Header()["Etag"]; preset {
		return key{}, nil, false
	}
	root := f.root
	if f.rootVar {
		switch v := caddyhttp.GetVar(ctx, "root").(type) {
		case nil:
			root = "."
		case string:
			if strings.Contains(v, "{") {
				return key{}, nil, false
			}
			root = v
		default:
			return key{}, nil, false
		}
	}
	scope := "/" // no token: the site root, as the gate confines it
	if c, ok := grant.From(r); ok {
		scope = confine.WidestScope(c.Paths, p)
	}
	return key{root: root, scope: scope, path: p}, fsys, true
}

// confinedFS is the gate's confined file system behind a name of Caddy's
// file system map, or nil for any other. The map hands out its entries
// wrapped in an unexported struct whose embedded field FS is what was
// registered; if that ever changes, this finds nothing and the request
// goes to file_server, never to an unconfined read.
func confinedFS(named fs.FS) *confine.FS {
	if c, ok := named.(*confine.FS); ok {
		return c
	}
	v := reflect.ValueOf(named)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	inner := v.Elem().FieldByIndex(fsFieldOf(v.Elem().Type()))
	if !inner.IsValid() || !inner.CanInterface() {
		return nil
	}
	c, _ := inner.Interface().(*confine.FS)
	return c
}

// fsFields remembers where each wrapper type keeps its FS field: a
// FieldByName per request would search the type every time.
var fsFields sync.Map // reflect.Type -> []int

func fsFieldOf(t reflect.Type) []int {
	if i, ok := fsFields.Load(t); ok {
		return i.([]int)
	}
	var index []int
	if f, ok := t.FieldByName("FS"); ok {
		index = f.Index
	}
	fsFields.Store(t, index)
	return index
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Files)(nil)
	_ caddy.Validator             = (*Files)(nil)
	_ caddy.CleanerUpper          = (*Files)(nil)
	_ caddyhttp.MiddlewareHandler = (*Files)(nil)
)
