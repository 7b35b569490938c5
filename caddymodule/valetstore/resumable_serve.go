package valetstore

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tus/tusd/v2/pkg/filestore"
	tusd "github.com/tus/tusd/v2/pkg/handler"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Metadata keys the store sets on every upload; a client's own keys with
// this prefix are dropped.
const (
	metaPrefix = "valet_"
	metaJTI    = metaPrefix + "jti"
	metaPath   = metaPrefix + "path"
)

// isTus reports whether a request speaks tus: the protocol puts
// Tus-Resumable on every request it makes.
func isTus(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodHead, http.MethodPatch, http.MethodDelete:
		return r.Header.Get("Tus-Resumable") != ""
	}
	return false
}

// tusPlan is what valet_store decided about one tus request before tusd
// runs; tusd's callbacks find it in the request context.
type tusPlan struct {
	id   string
	t    target
	l    limits
	meta map[string]string // for a creation
}

type planKey struct{}

func planFrom(ctx context.Context) *tusPlan {
	p, _ := ctx.Value(planKey{}).(*tusPlan)
	return p
}

// serveTus judges a tus request against the grant, then lets tusd run it.
func (s *Store) serveTus(w http.ResponseWriter, r *http.Request, c *token.Claims) {
	w.Header().Set("Tus-Resumable", "1.0.0")
	delete(r.Header, "X-Http-Method-Override") // the gate judged the method
	if r.Method == http.MethodPost {
		s.tusCreate(w, r, c)
		return
	}
	s.tusContinue(w, r, c)
}

// tusCreate starts an upload at the destination the POST names.
func (s *Store) tusCreate(w http.ResponseWriter, r *http.Request, c *token.Claims) {
	rs := s.Resumable
	meta := tusd.ParseMetadataHeader(r.Header.Get("Upload-Metadata"))
	t, reason := tusDestination(r, c, meta["filename"])
	if reason != "" {
		s.respond(w, r, outcome{reason: reason})
		return
	}
	l := s.limits(c)
	n, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
	if l.maxBytes > 0 && ((err == nil && n > l.maxBytes) || r.ContentLength > l.maxBytes) {
		s.respond(w, r, outcome{reason: TooLarge})
		return
	}
	if !l.allowsType([]string{meta["filetype"]}) {
		s.respond(w, r, outcome{reason: UnsupportedType})
		return
	}
	if reason, err := s.precheck(t, conditions{overwrite: l.overwrite}); reason != "" {
		s.respond(w, r, outcome{reason: reason, err: err})
		return
	}
	id := uploadID(c.ID, t.rel)
	// One upload per token and path: a new POST starts it over.
	if err := rs.discard(r.Context(), id); err != nil {
		s.respond(w, r, outcome{reason: StoreError, err: err})
		return
	}
	for k := range meta {
		if strings.HasPrefix(k, metaPrefix) {
			delete(meta, k)
		}
	}
	meta[metaJTI], meta[metaPath] = c.ID, t.rel
	p := &tusPlan{id: id, t: t, l: l, meta: meta}
	s.logger.Debug("resumable upload created", zap.String("jti", c.ID), zap.String("path", "/"+t.rel))
	var limit *limitedBody
	if l.maxBytes > 0 { // a creation may carry the first bytes
		limit = limitBody(r, l.maxBytes)
	}
	rs.post.ServeHTTP(rs.writer(w, "/"+t.rel), withPlan(r, p, r.URL.Path))
	limit.discardIfTripped(r, rs, id)
}

// tusDestination is the file a creation names: the request path, or for a
// path ending in "/" that directory and the filename from Upload-Metadata,
// which must then be one plain name and inside the token's scope too.
func tusDestination(r *http.Request, c *token.Claims, filename string) (target, Reason) {
	if !strings.HasSuffix(r.URL.Path, "/") {
		return targetOf(r.URL.Path, r.URL.EscapedPath())
	}
	if filename == "" || strings.ContainsAny(filename, "/\\") {
		return target{}, NotAFile
	}
	p := r.URL.Path + filename
	t, reason := targetOf(p, (&url.URL{Path: p}).EscapedPath())
	if reason == "" && !c.CoversPath(p) {
		return target{}, OutOfScope
	}
	return t, reason
}

// tusContinue runs HEAD, PATCH or DELETE on the upload this token started
// at the request path.
func (s *Store) tusContinue(w http.ResponseWriter, r *http.Request, c *token.Claims) {
	rs := s.Resumable
	t, reason := s.target(r)
	if reason != "" {
		s.respond(w, r, outcome{reason: reason})
		return
	}
	id := uploadID(c.ID, t.rel)
	info, found := rs.info(r.Context(), id)
	if !found || info.MetaData[metaJTI] != c.ID || info.MetaData[metaPath] != t.rel {
		s.respond(w, r, outcome{reason: NotFound})
		return
	}
	if rs.expired(id, time.Now()) {
		rs.discard(r.Context(), id)
		s.respond(w, r, outcome{reason: NotFound})
		return
	}
	l := s.limits(c)
	var limit *limitedBody
	if r.Method == http.MethodPatch && l.maxBytes > 0 {
		if reason := overLimit(r, info, l.maxBytes); reason != "" {
			rs.discard(r.Context(), id)
			s.respond(w, r, outcome{reason: reason})
			return
		}
		limit = limitBody(r, l.maxBytes-info.Offset)
	}
	h := map[string]http.Handler{http.MethodHead: rs.head, http.MethodPatch: rs.patch, http.MethodDelete: rs.del}[r.Method]
	h.ServeHTTP(rs.writer(w, ""), withPlan(r, &tusPlan{id: id, t: t, l: l}, id))
	limit.discardIfTripped(r, rs, id)
}

// overLimit judges a PATCH against maxb before its body is read: the
// upload's length (declared now or at creation) and the bytes announced.
func overLimit(r *http.Request, info tusd.FileInfo, max int64) Reason {
	size := info.Size
	if v := r.Header.Get("Upload-Length"); v != "" && info.SizeIsDeferred {
		size, _ = strconv.ParseInt(v, 10, 64)
	} else if info.SizeIsDeferred {
		size = 0
	}
	if size > max || (r.ContentLength > 0 && info.Offset+r.ContentLength > max) {
		return TooLarge
	}
	return ""
}

// limitedBody passes at most left bytes; the first byte past them fails the
// read with the store's too_large refusal, which tusd sends as its answer.
type limitedBody struct {
	io.ReadCloser
	left    int64
	tripped bool
}

// limitBody bounds r's body to left bytes.
func limitBody(r *http.Request, left int64) *limitedBody {
	b := &limitedBody{ReadCloser: r.Body, left: left}
	r.Body = b
	return b
}

// discardIfTripped removes an upload whose body passed its limit: it can
// never complete within the grant.
func (b *limitedBody) discardIfTripped(r *http.Request, rs *Resumable, id string) {
	if b != nil && b.tripped {
		rs.discard(context.WithoutCancel(r.Context()), id)
	}
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.tripped {
		return 0, tusRefusal(TooLarge)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		b.tripped = true
		n = int(b.left)
		b.left = 0
		return n, tusRefusal(TooLarge)
	}
	b.left -= int64(n)
	return n, err
}

// withPlan hands tusd the request with the plan in its context and the path
// it routes by: the upload id (tusd reads the id from the path).
func withPlan(r *http.Request, p *tusPlan, tusPath string) *http.Request {
	r = r.WithContext(context.WithValue(r.Context(), planKey{}, p))
	u := *r.URL
	u.Path, u.RawPath = tusPath, ""
	r.URL = &u
	return r
}

// info reads an upload's state; found is false when there is none.
func (rs *Resumable) info(ctx context.Context, id string) (tusd.FileInfo, bool) {
	up, err := rs.store.GetUpload(ctx, id)
	if err != nil {
		return tusd.FileInfo{}, false
	}
	info, err := up.GetInfo(ctx)
	return info, err == nil
}

// tusCreating is tusd's hook before an upload is created: the id and the
// metadata are the store's.
func (s *Store) tusCreating(ev tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
	p := planFrom(ev.Context)
	if p == nil {
		return tusd.HTTPResponse{}, tusd.FileInfoChanges{}, tusRefusal(Ungated)
	}
	return tusd.HTTPResponse{}, tusd.FileInfoChanges{ID: p.id, MetaData: p.meta}, nil
}

// tusFinished is tusd's hook when the last byte has arrived: the file goes
// into place under the grant's limits, and the upload is gone either way.
func (s *Store) tusFinished(ev tusd.HookEvent) (tusd.HTTPResponse, error) {
	rs := s.Resumable
	p := planFrom(ev.Context)
	if p == nil {
		return tusd.HTTPResponse{}, tusRefusal(Ungated)
	}
	ctx := context.WithoutCancel(ev.Context)
	var o outcome
	if !p.l.allowsType([]string{ev.Upload.MetaData["filetype"]}) {
		o = outcome{reason: UnsupportedType}
	} else {
		o = s.placeFile(ev.Upload.Storage[filestore.StorageKeyPath], p.t, conditions{overwrite: p.l.overwrite})
	}
	if err := rs.terminate(ctx, ev.Upload.ID); err != nil {
		s.logger.Error("removing a finished upload's state", zap.String("upload", ev.Upload.ID), zap.Error(err))
	}
	jti := ev.Upload.MetaData[metaJTI]
	if o.reason != "" {
		log := s.logger.Debug
		if o.reason == StoreError || o.reason == StorageFull {
			log = s.logger.Error
		}
		log("resumable upload refused at completion", zap.String("jti", jti), zap.String("path", "/"+p.t.rel),
			zap.String("reason", string(o.reason)), zap.Error(o.err))
		return tusd.HTTPResponse{}, tusRefusal(o.reason)
	}
	s.logger.Debug("resumable upload placed", zap.String("jti", jti), zap.String("path", "/"+p.t.rel))
	return tusd.HTTPResponse{Header: tusd.HTTPHeader{"ETag": o.etag}}, nil
}

// tusRefusal is a store refusal in the shape tusd answers with: the same
// status, Valet-Reason header and body as every other refusal.
func tusRefusal(reason Reason) tusd.Error {
	e := tusd.NewError(strings.ToUpper(string(reason)), string(reason), reason.Status())
	e.HTTPResponse.Body = string(reason) + "\n"
	e.HTTPResponse.Header = tusd.HTTPHeader{
		ReasonHeader:             string(reason),
		"Content-Type":           "text/plain; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
	}
	return e
}

// tusWriter adjusts tusd's answers on their way out: the upload's URL is
// the destination's own (tusd would name its id), and an answer that keeps
// an upload alive says until when.
type tusWriter struct {
	http.ResponseWriter
	location string
	expire   time.Duration
}

func (rs *Resumable) writer(w http.ResponseWriter, location string) *tusWriter {
	return &tusWriter{ResponseWriter: w, location: location, expire: rs.expire}
}

func (w *tusWriter) WriteHeader(status int) {
	h := w.Header()
	if h.Get("Location") != "" {
		h.Set("Location", (&url.URL{Path: w.location}).EscapedPath())
	}
	if status < 300 && h.Get("ETag") == "" && (h.Get("Upload-Offset") != "" || h.Get("Location") != "") {
		h.Set("Upload-Expires", time.Now().Add(w.expire).UTC().Format(http.TimeFormat))
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *tusWriter) Write(b []byte) (int, error) { return w.ResponseWriter.Write(b) }

// Unwrap lets tusd reach the connection (read deadlines).
func (w *tusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
