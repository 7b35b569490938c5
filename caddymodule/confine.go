package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/confine"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// fileConfiner hands the handler after the gate (file_server) a file system
// confined to the admitted token's scope, under the site's symlink policy
// (docs/files.md). Per request it points {http.vars.fs} at a confine.FS of
// the token's scope, registered in Caddy's file system map under a key of
// its own, and takes it away when the next handler returns. The FSes stay
// registered and are reused by later requests (Reset), so a request
// registers nothing and allocates no key.
type fileConfiner struct {
	policy confine.Policy
	fsmap  caddy.FileSystems

	mu     sync.Mutex
	idle   []*confinedFS // registered, not serving a request
	closed bool
}

// confinedFS is one registered confine.FS and its key in the map.
type confinedFS struct {
	key string
	fs  *confine.FS
	v   any // key, boxed once for {http.vars.fs}
}

// maxIdleConfined bounds the FSes kept registered between requests: about
// the requests one gate serves at once; beyond it they are unregistered.
const maxIdleConfined = 256

// fsKeys numbers the file system keys, unique in the process.
var fsKeys atomic.Uint64

// newFileConfiner reads the symlinks setting ("" is scope).
func newFileConfiner(ctx caddy.Context, symlinks string) (*fileConfiner, error) {
	p, err := confine.ParsePolicy(symlinks)
	if err != nil {
		return nil, err
	}
	return &fileConfiner{policy: p, fsmap: ctx.FileSystems()}, nil
}

// acquire is a registered FS of scope below root, for one request.
func (fc *fileConfiner) acquire(root, scope string) *confinedFS {
	fc.mu.Lock()
	if n := len(fc.idle); n > 0 {
		c := fc.idle[n-1]
		fc.idle = fc.idle[:n-1]
		fc.mu.Unlock()
		c.fs.Reset(root, scope, fc.policy)
		return c
	}
	fc.mu.Unlock()
	key := "valet_confined_" + strconv.FormatUint(fsKeys.Add(1), 10)
	c := &confinedFS{key: key, fs: confine.NewFS(root, scope, fc.policy), v: key}
	fc.fsmap.Register(c.key, c.fs)
	return c
}

// release closes a request's FS and keeps it registered for the next one.
func (fc *fileConfiner) release(c *confinedFS) {
	c.fs.Close()
	fc.mu.Lock()
	if !fc.closed && len(fc.idle) < maxIdleConfined {
		fc.idle = append(fc.idle, c)
		fc.mu.Unlock()
		return
	}
	fc.mu.Unlock()
	fc.fsmap.Unregister(c.key)
}

// cleanup unregisters the idle FSes; those still serving a request are
// unregistered when it ends.
func (fc *fileConfiner) cleanup() {
	if fc == nil {
		return
	}
	fc.mu.Lock()
	idle := fc.idle
	fc.idle, fc.closed = nil, true
	fc.mu.Unlock()
	for _, c := range idle {
		fc.fsmap.Unregister(c.key)
	}
}

// serveConfined passes the admitted request r on to next (through rw, the
// writer next may use), with file reads confined to the token's scope (c
// is nil for a request passed without a token: the site root is its scope). A
// read the policy refuses becomes the gate's own denial, written to w:
// symlink (403), or out_of_scope when the file server asked for a name
// outside the site root the gate knows ({http.vars.root}).
//
// The policy follow, and a site whose {http.vars.fs} already names a file
// system of the operator's (the fs directive), are served unconfined.
func (h *Handler) serveConfined(w, rw http.ResponseWriter, r *http.Request, c *token.Claims, path string, next caddyhttp.Handler) error {
	fc := h.files
	if fc == nil || fc.policy == confine.Follow {
		return next.ServeHTTP(rw, r)
	}
	vars, _ := r.Context().Value(caddyhttp.VarsCtxKey).(map[string]any) // one lookup for all four uses
	if vars == nil {
		return next.ServeHTTP(rw, r) // outside Caddy's server: no vars, so no file server reading through them
	}
	if own := vars["fs"]; own != nil && own != "" {
		return next.ServeHTTP(rw, r)
	}
	root := siteRoot(vars)
	scope := "/" // a request passed without a token: the whole site root
	if c != nil {
		scope = confine.WidestScope(c.Paths, path)
	}
	fsys := fc.acquire(root, scope)
	vars["fs"] = fsys.v
	defer func() {
		vars["fs"] = nil // error routes get the default back
		fc.release(fsys)
	}()

	err := next.ServeHTTP(rw, r)
	switch {
	case errors.Is(err, confine.ErrSymlink):
		return h.deny(w, r, c, token.Symlink)
	case errors.Is(err, confine.ErrOutside):
		h.logger.Error("file server asked for a file outside the site root the gate confines to; is its root the site's root directive?",
			zap.String("jti", jtiOf(c)), zap.String("root", root))
		return h.deny(w, r, c, token.OutOfScope)
	}
	return err
}

func jtiOf(c *token.Claims) string {
	if c == nil {
		return ""
	}
	return c.ID
}

// siteRoot is the root file_server serves from by default: what
// {http.vars.root} expands to, "." when unset (the root directive stores it
// already expanded).
func siteRoot(vars map[string]any) string {
	switch v := vars["root"].(type) {
	case nil:
		return "."
	case string:
		if v == "" {
			return "."
		}
		return v
	default:
		return fmt.Sprint(v)
	}
}
