package valetstore

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/grant"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Metadata keys the store sets on every upload; a client's own keys with
// this prefix are dropped.
const (
	metaPrefix = "valet_"
	metaJTI    = metaPrefix + "jti"
	metaPath   = metaPrefix + "path"
)

// IsTus reports whether a request speaks tus: the protocol puts
// Tus-Resumable on every request it makes.
func IsTus(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodHead, http.MethodPatch, http.MethodDelete:
		return r.Header.Get("Tus-Resumable") != ""
	}
	return false
}

// tusPlan is what Tus decided about one tus request before tusd runs;
// tusd's callbacks find it in the request context.
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

// ServeHTTP judges a tus request against the grant the gate verified, then
// lets tusd run it. A request that did not pass the gate is refused.
func (t *Tus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, ok := grant.From(r)
	if !ok {
		t.logger.Error("refusing a resumable upload that did not pass the valet gate; put valet before it",
			zap.String("method", r.Method), zap.String("path", r.URL.Path))
		refuse(w, Ungated.Status(), string(Ungated))
		return
	}
	w.Header().Set("Tus-Resumable", "1.0.0")
	delete(r.Header, "X-Http-Method-Override") // the gate judged the method
	if r.Method == http.MethodPost {
		t.create(w, r, c)
		return
	}
	t.resume(w, r, c)
}

func (t *Tus) limits(c *token.Claims) limits {
	return grantLimits(c, t.cfg.MaxBytes, t.cfg.ContentTypes, t.cfg.NoOverwrite)
}

func (t *Tus) refuse(w http.ResponseWriter, r *http.Request, reason Reason, err error) {
	refuseWrite(t.logger, w, r, reason, err)
}

// create starts an upload at the destination the POST names.
func (t *Tus) create(w http.ResponseWriter, r *http.Request, c *token.Claims) {
	meta := tusd.ParseMetadataHeader(r.Header.Get("Upload-Metadata"))
	dest, reason := tusDestination(r, c, meta["filename"])
	if reason != "" {
		t.refuse(w, r, reason, nil)
		return
	}
	l := t.limits(c)
	n, err := strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
	if l.maxBytes > 0 && ((err == nil && n > l.maxBytes) || r.ContentLength > l.maxBytes) {
		t.refuse(w, r, TooLarge, nil)
		return
	}
	if !l.allowsType([]string{meta["filetype"]}) {
		t.refuse(w, r, UnsupportedType, nil)
		return
	}
	if reason, err := t.cfg.Backend.Check(r.Context(), dest.rel, l.overwrite); reason != "" {
		t.refuse(w, r, reason, err)
		return
	}
	// One upload per token and path: a new POST starts it over.
	if old, found := t.cfg.Backend.Find(r.Context(), c.ID, dest.rel); found {
		if err := t.discard(r.Context(), old); err != nil {
			t.refuse(w, r, StoreError, err)
			return
		}
	}
	for k := range meta {
		if strings.HasPrefix(k, metaPrefix) {
			delete(meta, k)
		}
	}
	meta[metaJTI], meta[metaPath] = c.ID, dest.rel
	p := &tusPlan{id: t.cfg.Backend.NewID(c.ID, dest.rel), t: dest, l: l, meta: meta}
	t.logger.Debug("resumable upload created", zap.String("jti", c.ID), zap.String("path", "/"+dest.rel))
	var limit *limitedBody
	if l.maxBytes > 0 { // a creation may carry the first bytes
		limit = limitBody(r, l.maxBytes)
	}
	t.post.ServeHTTP(&tusWriter{ResponseWriter: w, location: "/" + dest.rel, expire: t.cfg.Expire}, withPlan(r, p, r.URL.Path))
	if limit.tripped() {
		ctx := context.WithoutCancel(r.Context())
		if id, found := t.cfg.Backend.Find(ctx, c.ID, dest.rel); found {
			t.discard(ctx, id)
		}
	}
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

// resume runs HEAD, PATCH or DELETE on the upload this token started at
// the request path.
func (t *Tus) resume(w http.ResponseWriter, r *http.Request, c *token.Claims) {
	dest, reason := targetOf(r.URL.Path, r.URL.EscapedPath())
	if reason != "" {
		t.refuse(w, r, reason, nil)
		return
	}
	id, found := t.cfg.Backend.Find(r.Context(), c.ID, dest.rel)
	var info tusd.FileInfo
	if found {
		info, found = t.info(r.Context(), id)
	}
	if !found || info.MetaData[metaJTI] != c.ID || info.MetaData[metaPath] != dest.rel {
		t.refuse(w, r, NotFound, nil)
		return
	}
	if t.expired(r.Context(), id, time.Now()) {
		t.discard(r.Context(), id)
		t.refuse(w, r, NotFound, nil)
		return
	}
	l := t.limits(c)
	var limit *limitedBody
	if r.Method == http.MethodPatch && l.maxBytes > 0 {
		if reason := overLimit(r, info, l.maxBytes); reason != "" {
			t.discard(r.Context(), id)
			t.refuse(w, r, reason, nil)
			return
		}
		limit = limitBody(r, l.maxBytes-info.Offset)
	}
	h := map[string]http.Handler{http.MethodHead: t.head, http.MethodPatch: t.patch, http.MethodDelete: t.del}[r.Method]
	h.ServeHTTP(&tusWriter{ResponseWriter: w, expire: t.cfg.Expire}, withPlan(r, &tusPlan{id: id, t: dest, l: l}, id))
	if limit.tripped() {
		t.discard(context.WithoutCancel(r.Context()), id)
	}
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

// withPlan hands tusd the request with the plan in its context and the path
// it routes by: the upload id (tusd reads the id from the path).
func withPlan(r *http.Request, p *tusPlan, tusPath string) *http.Request {
	r = r.WithContext(context.WithValue(r.Context(), planKey{}, p))
	u := *r.URL
	u.Path, u.RawPath = tusPath, ""
	r.URL = &u
	return r
}

// creating is tusd's hook before an upload is created: the id and the
// metadata are the store's.
func (t *Tus) creating(ev tusd.HookEvent) (tusd.HTTPResponse, tusd.FileInfoChanges, error) {
	p := planFrom(ev.Context)
	if p == nil {
		return tusd.HTTPResponse{}, tusd.FileInfoChanges{}, tusRefusal(Ungated)
	}
	return tusd.HTTPResponse{}, tusd.FileInfoChanges{ID: p.id, MetaData: p.meta}, nil
}

// finished is tusd's hook when the last byte has arrived: the backend puts
// the file into place under the grant's limits, and the upload is gone
// either way.
func (t *Tus) finished(ev tusd.HookEvent) (tusd.HTTPResponse, error) {
	p := planFrom(ev.Context)
	if p == nil {
		return tusd.HTTPResponse{}, tusRefusal(Ungated)
	}
	ctx := context.WithoutCancel(ev.Context)
	var (
		tag    string
		reason Reason
		err    error
	)
	if !p.l.allowsType([]string{ev.Upload.MetaData["filetype"]}) {
		reason = UnsupportedType
	} else {
		tag, reason, err = t.cfg.Backend.Finish(ctx, ev.Upload, p.t.rel, p.l.overwrite)
	}
	if err := t.cfg.Backend.Terminate(ctx, ev.Upload.ID); err != nil {
		t.logger.Error("removing a finished upload's state", zap.String("upload", ev.Upload.ID), zap.Error(err))
	}
	jti := ev.Upload.MetaData[metaJTI]
	if reason != "" {
		log := t.logger.Debug
		if reason == StoreError || reason == StorageFull {
			log = t.logger.Error
		}
		log("resumable upload refused at completion", zap.String("jti", jti), zap.String("path", "/"+p.t.rel),
			zap.String("reason", string(reason)), zap.Error(err))
		return tusd.HTTPResponse{}, tusRefusal(reason)
	}
	t.logger.Debug("resumable upload placed", zap.String("jti", jti), zap.String("path", "/"+p.t.rel))
	return tusd.HTTPResponse{Header: tusd.HTTPHeader{"ETag": tag}}, nil
}
