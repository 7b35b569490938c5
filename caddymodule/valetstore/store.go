// Package valetstore is the write side of caddy-valet: the Caddy handler
// http.handlers.valet_store, which sits behind the valet gate and stores
// uploads (PUT, or a multipart form POST) and deletions (DELETE) in a
// directory, within the limits of the token the gate verified.
package valetstore

import (
	"fmt"
	"net/http"
	"os"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/grant"
)

func init() {
	caddy.RegisterModule(Store{})
}

// Store writes uploads into a root directory. Every file access goes
// through an os.Root, so no path, symlink or ".." can leave the root, and
// every write is atomic: the body streams to a temporary file in the target
// directory, is synced, then renamed into place, so readers and concurrent
// writers see one complete version or the previous one, never a mix.
//
// It handles PUT, POST and DELETE, and with Resumable the tus requests
// (POST, HEAD, PATCH, DELETE with a Tus-Resumable header), and passes every
// other request to the next handler (typically file_server, for downloads). It refuses any request
// that did not pass the valet gate: the gate's verified grant is what says
// which path may be written and within which limits.
type Store struct {
	// Root is the directory uploads are written into. Required. Caddy
	// placeholders known at startup (like {env.NAS_ROOT}) are replaced.
	Root string `json:"root,omitempty"`

	// MaxBytes caps the size of an uploaded file, counted on the body stream
	// (a Content-Length cannot lie past it). The token's maxb claim may lower
	// it further; 0 means no limit of the site's own.
	MaxBytes int64 `json:"max_bytes,omitempty"`

	// ContentTypes lists the media types an upload may declare. When the
	// token lists types too, an upload must be in both lists.
	ContentTypes []string `json:"content_types,omitempty"`

	// NoOverwrite refuses to replace existing files even when the token
	// grants overwriting (the ow claim).
	NoOverwrite bool `json:"no_overwrite,omitempty"`

	// FormField is the name of the file field of a multipart/form-data POST.
	// Default: "file".
	FormField string `json:"form_field,omitempty"`

	// Resumable, when set, accepts resumable uploads (tus 1.0) besides
	// single-request ones, under the same limits (see Resumable).
	Resumable *Resumable `json:"resumable,omitempty"`

	root   *os.Root
	logger *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Store) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.valet_store",
		New: func() caddy.Module { return new(Store) },
	}
}

// Provision opens the root directory.
func (s *Store) Provision(ctx caddy.Context) error {
	s.logger = ctx.Logger()
	if s.FormField == "" {
		s.FormField = "file"
	}
	s.Root = caddy.NewReplacer().ReplaceKnown(s.Root, "")
	if s.Root == "" {
		return fmt.Errorf("valet_store: root is required")
	}
	root, err := os.OpenRoot(s.Root)
	if err != nil {
		return fmt.Errorf("valet_store: opening root: %w", err)
	}
	s.root = root
	if s.Resumable != nil {
		if err := s.Resumable.provision(ctx, s); err != nil {
			return fmt.Errorf("valet_store: %w", err)
		}
	}
	return nil
}

// Validate checks the configuration.
func (s *Store) Validate() error {
	if s.MaxBytes < 0 {
		return fmt.Errorf("valet_store: max_bytes must not be negative")
	}
	if s.Resumable != nil {
		if err := s.Resumable.validate(); err != nil {
			return fmt.Errorf("valet_store: %w", err)
		}
	}
	return nil
}

// Cleanup stops the resumable uploads' sweep and closes the root directory.
func (s *Store) Cleanup() error {
	if s.Resumable != nil {
		s.Resumable.cleanup()
	}
	if s.root != nil {
		return s.root.Close()
	}
	return nil
}

// ServeHTTP stores or deletes the file at the request path.
func (s *Store) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if s.Resumable != nil && IsTus(r) {
		s.Resumable.tus.ServeHTTP(w, r)
		return nil
	}
	if r.Method != http.MethodPut && r.Method != http.MethodPost && r.Method != http.MethodDelete {
		return next.ServeHTTP(w, r)
	}
	// Without the gate's grant there is no scope and no limit to enforce;
	// a route that forgot the gate must not turn the NAS world-writable, so
	// there is deliberately no switch for ungated writes.
	claims, ok := grant.From(r)
	if !ok {
		s.logger.Error("refusing a write that did not pass the valet gate; put valet before valet_store",
			zap.String("method", r.Method), zap.String("path", r.URL.Path))
		refuse(w, Ungated.Status(), string(Ungated))
		return nil
	}
	target, reason := s.target(r)
	if reason != "" {
		s.respond(w, r, outcome{reason: reason})
		return nil
	}
	l := s.limits(claims)
	var o outcome
	switch r.Method {
	case http.MethodPut:
		o = s.put(r, target, l)
	case http.MethodPost:
		o = s.post(r, target, l)
	default:
		o = s.delete(r, target)
	}
	s.respond(w, r, o)
	return nil
}

// outcome is what a write came to: a reason to refuse, or success.
type outcome struct {
	reason  Reason
	err     error  // the file system error behind StoreError, for the log
	created bool   // a new file, not a replacement
	etag    string // of the stored file
}

func (s *Store) respond(w http.ResponseWriter, r *http.Request, o outcome) {
	if o.reason != "" {
		refuseWrite(s.logger, w, r, o.reason, o.err)
		return
	}
	if o.etag != "" {
		w.Header().Set("ETag", o.etag)
	}
	if o.created {
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Store)(nil)
	_ caddy.Validator             = (*Store)(nil)
	_ caddy.CleanerUpper          = (*Store)(nil)
	_ caddyhttp.MiddlewareHandler = (*Store)(nil)
)

// refuseWrite logs a refused write and answers it.
func refuseWrite(logger *zap.Logger, w http.ResponseWriter, r *http.Request, reason Reason, err error) {
	log := logger.Debug
	if reason == StoreError || reason == StorageFull {
		log = logger.Error
	}
	log("write refused", zap.String("method", r.Method), zap.String("path", r.URL.Path),
		zap.String("reason", string(reason)), zap.Error(err))
	// Close an HTTP/1 connection whose body we refuse: otherwise Go's
	// server (seeing Caddy's body wrapper, not its own) reads up to
	// 256 KiB more before answering, and answers Expect: 100-continue
	// with a 100 that invites the whole body.
	if r.ProtoMajor == 1 && r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
	refuse(w, reason.Status(), string(reason))
}
