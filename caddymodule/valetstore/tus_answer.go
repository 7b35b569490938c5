package valetstore

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	tusd "github.com/tus/tusd/v2/pkg/handler"
)

// limitedBody passes at most left bytes; the first byte past them fails the
// read with the store's too_large refusal, which tusd sends as its answer.
// The upload is then discarded: it can never complete within the grant.
type limitedBody struct {
	io.ReadCloser
	left int64
	over bool
}

// limitBody bounds r's body to left bytes.
func limitBody(r *http.Request, left int64) *limitedBody {
	b := &limitedBody{ReadCloser: r.Body, left: left}
	r.Body = b
	return b
}

func (b *limitedBody) tripped() bool { return b != nil && b.over }

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.over {
		return 0, tusRefusal(TooLarge)
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if int64(n) > b.left {
		b.over = true
		n = int(b.left)
		b.left = 0
		return n, tusRefusal(TooLarge)
	}
	b.left -= int64(n)
	return n, err
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
// the destination's own (tusd would name its id), and an answer that
// keeps an upload alive says until when.
type tusWriter struct {
	http.ResponseWriter
	location string
	expire   time.Duration
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
