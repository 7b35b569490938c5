package caddymodule

import (
	"context"
	"errors"
	"github.com/valetkey/caddy-valet/internal/testenv"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func TestCaddyfileSymlinks(t *testing.T) {
	for _, p := range []string{"scope", "never", "follow"} {
		out, err := testenv.Adapt(t, ":8080 {\n\tvalet {\n\t\tkey k1 hs256 {env.K}\n\t\tsymlinks "+p+"\n\t}\n}")
		if err != nil {
			t.Fatal(err)
		}
		want := `{"apps":{"http":{"servers":{"srv0":{"listen":[":8080"],"routes":[{"handle":[{"handler":"valet","keys":[{"algorithm":"HS256","id":"k1","material":"{env.K}"}],"symlinks":"` + p + `"}]}]}}}}}`
		if out != want {
			t.Fatalf("adapted JSON differs\n got: %s\nwant: %s", out, want)
		}
	}
	for _, bad := range []string{"symlinks", "symlinks on", "symlinks scope never", "symlinks Scope"} {
		if _, err := testenv.Adapt(t, ":8080 {\n\tvalet {\n\t\t"+bad+"\n\t}\n}"); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// gateRequest is an admitted request as the gate hands it on: a replacer
// and the vars map in its context, the site root set by a root directive.
func gateRequest(root, path string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	repl := caddy.NewReplacer()
	ctx := context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl)
	ctx = context.WithValue(ctx, caddyhttp.VarsCtxKey, map[string]any{"root": root})
	repl.Map(func(key string) (any, bool) {
		if key == "http.vars.root" {
			return root, true
		}
		if key == "http.vars.fs" {
			v := caddyhttp.GetVar(ctx, "fs")
			return v, v != nil
		}
		return nil, false
	})
	return r.WithContext(ctx)
}

// fileNext reads the request's file the way file_server does: the file
// system {http.vars.fs} names, and the name SanitizedPathJoin(root, path).
type fileNext struct {
	fsmap caddy.FileSystems
	body  []byte
}

func (n *fileNext) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	fsys, ok := n.fsmap.Get(repl.ReplaceAll("{http.vars.fs}", ""))
	if !ok {
		return caddyhttp.Error(http.StatusNotFound, fs.ErrNotExist)
	}
	name := caddyhttp.SanitizedPathJoin(repl.ReplaceAll("{http.vars.root}", "."), r.URL.Path)
	if _, err := fs.Stat(fsys, name); err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	f, err := fsys.Open(name)
	if err != nil {
		return caddyhttp.Error(http.StatusForbidden, err)
	}
	defer f.Close()
	n.body, err = io.ReadAll(f)
	return err
}

func confinedHandler(t testing.TB, policy string) *Handler {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	fc, err := newFileConfiner(ctx, policy)
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{files: fc, logger: zap.NewNop()}
}

func confinedSite(t testing.TB) string {
	site := t.TempDir()
	for name, body := range map[string]string{"files/alice/a.txt": "alice", "files/bob/secret.txt": "SECRET"} {
		p := filepath.Join(site, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../bob/secret.txt", filepath.Join(site, "files/alice/link.txt")); err != nil {
		t.Fatal(err)
	}
	return site
}

// The gate's glue turns a refused link into its own symlink denial, leaves
// the file system map as it found it, and gives error routes the default
// file system back.
func TestServeConfined(t *testing.T) {
	site := confinedSite(t)
	c := &token.Claims{Paths: []string{"/files/alice/"}}
	c.ID = "jti-confined-test-0001"
	for _, tc := range []struct {
		policy, path string
		status       int
		body         string
	}{
		{"", "/files/alice/a.txt", 200, "alice"},
		{"", "/files/alice/link.txt", 403, ""},
		{"never", "/files/alice/link.txt", 403, ""},
		{"follow", "/files/alice/link.txt", 200, "SECRET"},
	} {
		h := confinedHandler(t, tc.policy)
		next := &fileNext{fsmap: h.files.fsmap}
		r := gateRequest(site, tc.path)
		w := httptest.NewRecorder()
		err := h.serveConfined(w, w, r, c, tc.path, next)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.policy, tc.path, err)
		}
		if got := w.Result().StatusCode; got != tc.status || string(next.body) != tc.body {
			t.Fatalf("%s %s: %d %q, want %d %q", tc.policy, tc.path, got, next.body, tc.status, tc.body)
		}
		if tc.status == 403 && (w.Header().Get(ReasonHeader) != "symlink" || w.Body.String() != "symlink\n") {
			t.Fatalf("%s %s: reason %q body %q", tc.policy, tc.path, w.Header().Get(ReasonHeader), w.Body)
		}
		if v := caddyhttp.GetVar(r.Context(), "fs"); v != nil {
			t.Fatalf("http.vars.fs left as %v", v)
		}
	}
}

// An operator's own file system (the fs directive) is used as it is.
func TestServeConfinedKeepsOperatorFS(t *testing.T) {
	site := confinedSite(t)
	h := confinedHandler(t, "scope")
	h.files.fsmap.Register("mine", os.DirFS("/nonexistent"))
	r := gateRequest(site, "/files/alice/a.txt")
	caddyhttp.SetVar(r.Context(), "fs", "mine")
	var seen any
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen = caddyhttp.GetVar(r.Context(), "fs")
		return nil
	})
	c := &token.Claims{Paths: []string{"/files/alice/"}}
	if err := h.serveConfined(httptest.NewRecorder(), httptest.NewRecorder(), r, c, "/files/alice/a.txt", next); err != nil || seen != "mine" {
		t.Fatalf("fs %v, err %v", seen, err)
	}
}

// A file server whose root is not the site's root directive is refused.
func TestServeConfinedRefusesOtherRoot(t *testing.T) {
	site := confinedSite(t)
	h := confinedHandler(t, "scope")
	c := &token.Claims{Paths: []string{"/files/alice/"}}
	r := gateRequest(site, "/files/alice/a.txt")
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		repl := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
		fsys, _ := h.files.fsmap.Get(repl.ReplaceAll("{http.vars.fs}", ""))
		_, err := fs.Stat(fsys, filepath.Join(t.TempDir(), "files/alice/a.txt"))
		return caddyhttp.Error(http.StatusForbidden, err)
	})
	w := httptest.NewRecorder()
	if err := h.serveConfined(w, w, r, c, "/files/alice/a.txt", next); err != nil {
		t.Fatal(err)
	}
	if w.Code != 403 || w.Header().Get(ReasonHeader) != "out_of_scope" {
		t.Fatalf("%d %q", w.Code, w.Header().Get(ReasonHeader))
	}
}

// BenchmarkServeConfinedGlue is what the gate adds to a request whose next
// handler reads no file (reverse_proxy, valet_store): the per-request file
// system is registered and removed, never opened.
func BenchmarkServeConfinedGlue(b *testing.B) {
	c := &token.Claims{Paths: []string{"/files/alice/"}}
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	for _, policy := range []string{"follow", "scope"} {
		b.Run(policy, func(b *testing.B) {
			h := confinedHandler(b, policy)
			w := httptest.NewRecorder()
			r := gateRequest(b.TempDir(), "/files/alice/a.txt")
			b.ReportAllocs()
			for b.Loop() {
				if err := h.serveConfined(w, w, r, c, "/files/alice/a.txt", next); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkServeConfined measures what confinement adds to one admitted
// file read: Stat and Open of a 4 KiB file two directories below the scope,
// through the per-request confined FS ("scope", "never"), against the same
// reads through Caddy's default OS file system ("follow", no confinement).
//
//	go test -run '^$' -bench ServeConfined -benchmem ./caddymodule/
func BenchmarkServeConfined(b *testing.B) {
	site := b.TempDir()
	p := filepath.Join(site, "files/alice/2026/06/a.bin")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
		b.Fatal(err)
	}
	c := &token.Claims{Paths: []string{"/files/alice/"}}
	const path = "/files/alice/2026/06/a.bin"
	for _, policy := range []string{"follow", "scope", "never"} {
		b.Run(policy, func(b *testing.B) {
			h := confinedHandler(b, policy)
			next := &fileNext{fsmap: h.files.fsmap}
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				r := gateRequest(site, path)
				if err := h.serveConfined(w, w, r, c, path, next); err != nil || len(next.body) != 4096 {
					b.Fatal(err, len(next.body))
				}
			}
		})
	}
}

// With use_error_routes, a refused link is a Caddy error carrying the
// reason, for the site's handle_errors routes to render.
func TestServeConfinedErrorRoutes(t *testing.T) {
	site := confinedSite(t)
	h := confinedHandler(t, "scope")
	h.UseErrorRoutes = true
	c := &token.Claims{Paths: []string{"/files/alice/"}}
	w := httptest.NewRecorder()
	err := h.serveConfined(w, w, gateRequest(site, "/files/alice/link.txt"), c, "/files/alice/link.txt", &fileNext{fsmap: h.files.fsmap})
	var herr caddyhttp.HandlerError
	if !errors.As(err, &herr) || herr.StatusCode != 403 || herr.Err != token.Symlink || w.Header().Get(ReasonHeader) != "symlink" {
		t.Fatalf("error %#v, reason header %q", err, w.Header().Get(ReasonHeader))
	}
}
