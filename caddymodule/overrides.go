package caddymodule

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// overridingWriter applies a token's signed response overrides to a
// successful download, whatever the file server or upstream set, just
// before the header goes out. Errors keep their own headers.
type overridingWriter struct {
	*caddyhttp.ResponseWriterWrapper
	o     *token.ResponseOverrides
	wrote bool
}

func withOverrides(w http.ResponseWriter, r *http.Request, o *token.ResponseOverrides) http.ResponseWriter {
	if o == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return w
	}
	return &overridingWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, o: o}
}

func (ow *overridingWriter) WriteHeader(status int) {
	if ow.wrote {
		return
	}
	ow.wrote = status >= 200 // 1xx informational headers may come first
	if status >= 200 && status < 300 {
		for name, value := range map[string]string{
			"Content-Disposition": ow.o.ContentDisposition,
			"Content-Type":        ow.o.ContentType,
			"Cache-Control":       ow.o.CacheControl,
		} {
			if value != "" {
				ow.Header().Set(name, value)
			}
		}
	}
	ow.ResponseWriterWrapper.WriteHeader(status)
}

func (ow *overridingWriter) Write(b []byte) (int, error) {
	ow.WriteHeader(http.StatusOK)
	return ow.ResponseWriterWrapper.Write(b)
}

// ReadFrom keeps the sendfile path of the file server.
func (ow *overridingWriter) ReadFrom(r io.Reader) (int64, error) {
	ow.WriteHeader(http.StatusOK)
	return ow.ResponseWriterWrapper.ReadFrom(r)
}
