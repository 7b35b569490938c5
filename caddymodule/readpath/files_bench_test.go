package readpath

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/valetkey/caddy-valet/caddymodule/grant"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// discard is a ResponseWriter that keeps nothing but its header map, which
// each iteration clears, so the benchmarks count the read path's own work.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// benchFiles is a read path over a directory with one 4 KiB file (the racy
// window off, since its ctime cannot be aged), without Caddy around it (no file_server is reached).
func benchFiles(b *testing.B) (*Files, *http.Request) {
	dir := b.TempDir()
	name := filepath.Join(dir, "photos/alice/4k.txt")
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(strings.Repeat("x", 4096)), 0o644); err != nil {
		b.Fatal(err)
	}
	racy := racyWindow
	racyWindow = 0 // the file was just written: its ctime cannot be set back
	b.Cleanup(func() { racyWindow = racy })
	stats := newMetrics()
	f := &Files{MaxFileSize: DefaultMaxFileSize, CacheSize: DefaultCacheSize, root: dir, fast: true,
		stats: stats, cache: newCache(DefaultCacheSize, stats)}
	r := httptest.NewRequest("GET", "/photos/alice/4k.txt", nil)
	c := &token.Claims{Paths: []string{"/photos/alice/"}, Methods: []string{"GET"}}
	r = grant.WithVars(r)
	grant.Set(r, c)
	return f, r
}

func runServe(b *testing.B, f *Files, r *http.Request) {
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		if err := f.ServeHTTP(w, r, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeHit: a cached 4 KiB file, behind a token scope: the key,
// the lookup, one stat and the response from memory.
func BenchmarkServeHit(b *testing.B) {
	f, r := benchFiles(b)
	runServe(b, f, r)
	if f.cache.len() != 1 {
		b.Fatal("the file was not cached")
	}
}

// BenchmarkServeHitRange: a cached file answered through http.ServeContent.
func BenchmarkServeHitRange(b *testing.B) {
	f, r := benchFiles(b)
	r.Header.Set("Range", "bytes=0-99")
	runServe(b, f, r)
}

// BenchmarkServeMiss: the cache never keeps the file (max_file_size 1), so
// every request opens it through confine and streams it.
func BenchmarkServeMiss(b *testing.B) {
	f, r := benchFiles(b)
	f.MaxFileSize = 1
	runServe(b, f, r)
}

// BenchmarkServeHitRevalidate: a cached file with revalidate 1m, so the
// stat is skipped: what the hit costs without the system call.
func BenchmarkServeHitRevalidate(b *testing.B) {
	f, r := benchFiles(b)
	f.Revalidate = caddy.Duration(time.Minute)
	runServe(b, f, r)
}
