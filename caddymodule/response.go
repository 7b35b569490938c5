package caddymodule

import (
	"io"
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// referrerPolicy keeps a token in a page's URL out of the Referer of every
// link and subresource on that page.
const referrerPolicy = "no-referrer"

// promisedWriter owns the headers the gate promises on the way out, set
// just before the header goes out, after whatever the handler or upstream
// behind the gate wrote: Referrer-Policy on every answer (replaced, never
// added to: browsers apply the last valid policy they receive, so an
// upstream's "unsafe-url" beside ours would win), and the token's signed
// response overrides on a successful download. A redirect to a path on
// this site (file_server's "/dir/") gets the token carried along (see
// Handler.carryTo).
type promisedWriter struct {
	caddyhttp.ResponseWriterWrapper                          // by value: one allocation per request
	o                               *token.ResponseOverrides // nil unless a GET or HEAD with overrides
	h                               *Handler
	tok                             carried
	wrote                           bool
}

func (h *Handler) promiseHeaders(w http.ResponseWriter, r *http.Request, o *token.ResponseOverrides, tok carried) http.ResponseWriter {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		o = nil
	}
	return &promisedWriter{ResponseWriterWrapper: caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, o: o, h: h, tok: tok}
}

func (pw *promisedWriter) WriteHeader(status int) {
	if pw.wrote {
		return
	}
	pw.wrote = status >= 200 // 1xx informational headers may come first
	h := pw.Header()
	if v := h["Referrer-Policy"]; len(v) != 1 || v[0] != referrerPolicy { // admit set it; an upstream may have replaced it
		h.Set("Referrer-Policy", referrerPolicy)
	}
	if status >= 300 && status < 400 {
		if loc := h.Get("Location"); loc != "" {
			h.Set("Location", pw.h.carryTo(loc, pw.tok))
		}
	}
	if o := pw.o; o != nil && status >= 200 && status < 300 {
		for _, kv := range [...][2]string{
			{"Content-Disposition", o.ContentDisposition},
			{"Content-Type", o.ContentType},
			{"Cache-Control", o.CacheControl},
		} {
			if kv[1] != "" {
				h.Set(kv[0], kv[1])
			}
		}
	}
	pw.ResponseWriterWrapper.WriteHeader(status)
}

func (pw *promisedWriter) Write(b []byte) (int, error) {
	pw.WriteHeader(http.StatusOK)
	return pw.ResponseWriterWrapper.Write(b)
}

// ReadFrom keeps the sendfile path of a large body. A small one
// (file_server's io.CopyN of a small file or range) is read into a pooled
// buffer and written instead: below, Caddy's idle-timeout writer wraps the
// source in a second io.LimitedReader, which hides the file from sendfile,
// and Go's copy loop then allocates a 32 KiB buffer per response and reads
// the file twice.
func (pw *promisedWriter) ReadFrom(r io.Reader) (int64, error) {
	pw.WriteHeader(http.StatusOK)
	if lr, ok := r.(*io.LimitedReader); ok && lr.N <= smallBody {
		buf := smallBodies.Get().(*[smallBody]byte)
		defer smallBodies.Put(buf)
		return io.CopyBuffer(writeOnly{pw}, lr, buf[:])
	}
	return pw.ResponseWriterWrapper.ReadFrom(r)
}

// smallBody is the largest body ReadFrom copies through its own buffer.
const smallBody = 32 << 10

var smallBodies = sync.Pool{New: func() any { return new([smallBody]byte) }}

// writeOnly hides promisedWriter's ReadFrom from io.CopyBuffer.
type writeOnly struct{ pw *promisedWriter }

func (w writeOnly) Write(b []byte) (int, error) { return w.pw.Write(b) }
