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
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/fileserver"

	"github.com/valetkey/caddy-valet/caddymodule/confine"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func init() {
	caddy.RegisterModule(Files{})
}

// Files serves static files like file_server (all of file_server's options
// apply, inline), answering GET and HEAD for small regular files from
// memory. A cached file is checked against the disk with one stat on every
// request, so a file changed, replaced, truncated or deleted is never served
// stale. Files are opened relative to the token's scope (package confine),
// so a symbolic link cannot lead a read out of it.
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

	// Symlinks says which symbolic links a read may pass through: "scope"
	// (the default) follows a link only when its target stays inside the
	// token's scope (the site root without a token), "never" follows none,
	// "follow" follows every link as the operating system does.
	Symlinks string `json:"symlinks,omitempty"`

	policy  confine.Policy
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
	if err := f.FileServer.Provision(ctx); err != nil {
		return fmt.Errorf("valet_files: %w", err)
	}
	var err error
	if f.policy, err = confine.ParsePolicy(f.Symlinks); err != nil {
		return fmt.Errorf("valet_files: %w", err)
	}
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
	k, ok := f.cacheKey(w, r)
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
	return f.load(w, r, next, k)
}

// fresh reports whether a cached file still is what the disk holds: one
// stat, unless the file was checked less than Revalidate ago.
func (f *Files) fresh(e *entry) bool {
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
// if so, names its file. Directories (a trailing slash: index files,
// redirects, listings), other methods, error routes, a file system chosen
// per request, and paths file_server would clean first go to file_server.
func (f *Files) cacheKey(w http.ResponseWriter, r *http.Request) (key, bool) {
	if !f.fast || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return key{}, false
	}
	p := r.URL.Path
	if p == "" || p[len(p)-1] == '/' || path.Clean(p) != p {
		return key{}, false
	}
	ctx := r.Context()
	if ctx.Value(caddyhttp.ErrorCtxKey) != nil {
		return key{}, false
	}
	if fs := caddyhttp.GetVar(ctx, "fs"); fs != nil && fs != "" {
		return key{}, false
	}
	if _, preset := w.Header()["Etag"]; preset {
		return key{}, false
	}
	root := f.root
	if f.rootVar {
		switch v := caddyhttp.GetVar(ctx, "root").(type) {
		case nil:
			root = "."
		case string:
			if strings.Contains(v, "{") {
				return key{}, false
			}
			root = v
		default:
			return key{}, false
		}
	}
	scope := "/"
	if c, ok := token.FromContext(ctx); ok {
		scope = widestScope(c, p)
	}
	return key{root: root, scope: scope, path: p}, true
}

// widestScope is the token's scope that covers path and is the widest: a
// link may lead anywhere inside it, since the token could read its target
// directly. The path itself (an exact-file scope) if none does.
func widestScope(c *token.Claims, path string) string {
	scope := ""
	for _, s := range c.Paths {
		if token.InScope(s, path) && (scope == "" || len(s) < len(scope)) {
			scope = s
		}
	}
	if scope == "" {
		return path
	}
	return scope
}

// Interface guards.
var (
	_ caddy.Provisioner           = (*Files)(nil)
	_ caddy.Validator             = (*Files)(nil)
	_ caddyhttp.MiddlewareHandler = (*Files)(nil)
)
