package caddymodule

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// BenchmarkGateInCaddyContext measures the gate's own work per hot request
// as Caddy's server sets a request up: a replacer, the vars map and the
// extra log fields in the context. "harness" builds the same request and
// context with no gate; the gate's cost is gate minus harness.
func BenchmarkGateInCaddyContext(b *testing.B) {
	h, hs, _ := testGate(b, 1000)
	tok := mintFor(b, hs, time.Hour)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	rawQuery := "vk=" + tok
	base := &http.Request{Method: "GET", URL: &url.URL{Path: "/photos/alice/a.txt"}, Header: http.Header{},
		RemoteAddr: "127.0.0.1:5555", Host: "example.com"}
	w := &headerOnlyWriter{h: http.Header{}}
	prepare := func() *http.Request {
		r := *base
		u := *base.URL
		u.RawQuery = rawQuery
		r.URL = &u
		ctx := context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer())
		ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{caddyhttp.ClientIPVarKey: "127.0.0.1"})
		ctx = context.WithValue(ctx, caddyhttp.ExtraLogFieldsCtxKey, new(caddyhttp.ExtraLogFields))
		clear(w.h)
		return r.WithContext(ctx)
	}
	b.Run("harness", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := next.ServeHTTP(w, prepare()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := h.ServeHTTP(w, prepare(), next); err != nil || w.h.Get(ReasonHeader) != "" {
				b.Fatal(err, w.h)
			}
		}
	})
}

type headerOnlyWriter struct{ h http.Header }

func (w *headerOnlyWriter) Header() http.Header         { return w.h }
func (w *headerOnlyWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerOnlyWriter) WriteHeader(int)             {}
