package valetstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/valetkey/caddy-valet/caddymodule/grant"
	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

func newStore(t *testing.T, cfg Store) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	cfg.Root = dir
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	s := &cfg
	if err := s.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Cleanup() })
	return s, dir
}

func claimsFor(methods ...string) *token.Claims {
	return &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Minute))},
		Paths:            []string{"/"},
		Methods:          methods,
	}
}

type req struct {
	method, path string
	body         io.Reader
	header       map[string]string
	claims       *token.Claims // nil: no gate
	length       int64         // Content-Length; -1 unknown (chunked)
}

var nextCalled = errors.New("next handler called")

func (s *Store) do(t *testing.T, q req) *httptest.ResponseRecorder {
	t.Helper()
	if q.body == nil {
		q.body = strings.NewReader("")
	}
	r := httptest.NewRequest(q.method, q.path, q.body)
	r.ContentLength = q.length
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	if q.claims != nil {
		r = grant.WithVars(r)
		grant.Set(r, q.claims)
	}
	w := httptest.NewRecorder()
	err := s.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nextCalled }))
	if err == nextCalled {
		w.Code = -1
	} else if err != nil {
		t.Fatalf("ServeHTTP: %v", err)
	}
	return w
}

func put(path, body string, c *token.Claims, hdr ...string) req {
	q := req{method: "PUT", path: path, body: strings.NewReader(body), claims: c, length: int64(len(body)), header: map[string]string{}}
	for i := 0; i+1 < len(hdr); i += 2 {
		q.header[hdr[i]] = hdr[i+1]
	}
	return q
}

func snapshot(t *testing.T, dir string) map[string]string { return testenv.Tree(t, dir) }

func sameTree(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	testenv.SameTree(t, dir, before)
}

func expect(t *testing.T, w *httptest.ResponseRecorder, status int, reason string) {
	t.Helper()
	if w.Code != status || w.Header().Get(ReasonHeader) != reason {
		t.Fatalf("got %d %q (body %q), want %d %q", w.Code, w.Header().Get(ReasonHeader), w.Body, status, reason)
	}
	if reason != "" && w.Body.String() != reason+"\n" {
		t.Fatalf("body %q, want the reason", w.Body)
	}
}

func TestPutCreatesWithParentsAndETag(t *testing.T) {
	s, dir := newStore(t, Store{})
	w := s.do(t, put("/a/b/c.txt", "hello", claimsFor("PUT")))
	expect(t, w, 201, "")
	b, err := os.ReadFile(filepath.Join(dir, "a/b/c.txt"))
	if err != nil || string(b) != "hello" {
		t.Fatalf("stored %q, %v", b, err)
	}
	fi, _ := os.Stat(filepath.Join(dir, "a/b/c.txt"))
	if got := w.Header().Get("ETag"); got != etag(fi) || got == "" {
		t.Fatalf("ETag %q, want %q", got, etag(fi))
	}
}

func TestOverwriteRules(t *testing.T) {
	s, dir := newStore(t, Store{})
	expect(t, s.do(t, put("/f", "one", claimsFor("PUT"))), 201, "")
	before := snapshot(t, dir)

	expect(t, s.do(t, put("/f", "two", claimsFor("PUT"))), 412, "exists")
	sameTree(t, dir, before)

	ow := claimsFor("PUT")
	ow.Overwrite = true
	expect(t, s.do(t, put("/f", "two", ow, "If-None-Match", "*")), 412, "condition_failed")
	expect(t, s.do(t, put("/f", "two", ow, "If-Match", `"nope"`)), 412, "condition_failed")
	sameTree(t, dir, before)

	fi, _ := os.Stat(filepath.Join(dir, "f"))
	w := s.do(t, put("/f", "two", ow, "If-Match", etag(fi)))
	expect(t, w, 204, "")
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "two" {
		t.Fatalf("content %q", b)
	}
	expect(t, s.do(t, put("/new", "x", ow, "If-Match", "*")), 412, "condition_failed")

	// the site can withhold overwriting whatever the token says
	s2, _ := newStore(t, Store{NoOverwrite: true})
	expect(t, s2.do(t, put("/f", "1", ow)), 201, "")
	expect(t, s2.do(t, put("/f", "2", ow)), 412, "exists")
}

func TestSizeLimitCountedOnTheStream(t *testing.T) {
	for _, tc := range []struct {
		name      string
		site, tok int64
		body      int
		length    int64 // -2: honest
		status    int
	}{
		{"at the site limit", 10, 0, 10, -2, 201},
		{"over the site limit, honest length", 10, 0, 11, -2, 413},
		{"over the token limit, tighter than the site", 100, 5, 6, -2, 413},
		{"over the site limit, tighter than the token", 5, 100, 6, -2, 413},
		{"over, length unknown (chunked)", 10, 0, 11, -1, 413},
		{"over, length lies low", 10, 0, 1 << 20, 3, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newStore(t, Store{MaxBytes: tc.site})
			before := snapshot(t, dir)
			c := claimsFor("PUT")
			c.MaxBytes = tc.tok
			q := put("/d/f", strings.Repeat("x", tc.body), c)
			if tc.length != -2 {
				q.length = tc.length
			}
			w := s.do(t, q)
			if w.Code != tc.status {
				t.Fatalf("status %d (%s), want %d", w.Code, w.Body, tc.status)
			}
			if tc.status == 413 {
				expect(t, w, 413, "too_large")
				sameTree(t, dir, before) // nor the parent it made
			}
		})
	}
}

func TestContentTypes(t *testing.T) {
	s, dir := newStore(t, Store{ContentTypes: []string{"image/png", "text/plain"}})
	before := snapshot(t, dir)
	c := claimsFor("PUT")
	expect(t, s.do(t, put("/f", "x", c, "Content-Type", "application/pdf")), 415, "unsupported_type")
	expect(t, s.do(t, put("/f", "x", c)), 415, "unsupported_type")
	c.ContentTypes = []string{"image/png"}
	expect(t, s.do(t, put("/f", "x", c, "Content-Type", "text/plain")), 415, "unsupported_type")
	sameTree(t, dir, before)
	expect(t, s.do(t, put("/f", "x", c, "Content-Type", "IMAGE/PNG; x=y")), 201, "")
}

func TestChecksums(t *testing.T) {
	body := "the body"
	md := md5.Sum([]byte(body))
	sh := sha256.Sum256([]byte(body))
	goodMD5 := base64.StdEncoding.EncodeToString(md[:])
	goodSHA := base64.StdEncoding.EncodeToString(sh[:])
	badSHA := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		hdr    []string
		status int
		reason string
	}{
		{[]string{"Content-MD5", goodMD5}, 201, ""},
		{[]string{"Content-Digest", "sha-512=:AAAA:, sha-256=:" + goodSHA + ":"}, 201, ""},
		{[]string{"Repr-Digest", "sha-256=:" + goodSHA + ":"}, 201, ""},
		{[]string{"Digest", "SHA-256=" + goodSHA}, 201, ""},
		{[]string{"Content-MD5", base64.StdEncoding.EncodeToString(make([]byte, 16))}, 400, "checksum_mismatch"},
		{[]string{"Content-Digest", "sha-256=:" + badSHA + ":"}, 400, "checksum_mismatch"},
		{[]string{"Content-MD5", goodMD5, "Digest", "SHA-256=" + badSHA}, 400, "checksum_mismatch"},
		{[]string{"Content-MD5", "not base64"}, 400, "bad_checksum"},
		{[]string{"Content-Digest", "sha-512=:AAAA:"}, 400, "bad_checksum"},
		{[]string{"Content-Digest", "sha-256=" + goodSHA}, 400, "bad_checksum"},
	} {
		s, dir := newStore(t, Store{})
		before := snapshot(t, dir)
		w := s.do(t, put("/x/f", body, claimsFor("PUT"), tc.hdr...))
		expect(t, w, tc.status, tc.reason)
		if tc.status != 201 {
			sameTree(t, dir, before)
		}
	}
}

// brokenReader sends some bytes, then fails like a client that hung up.
type brokenReader struct{ sent bool }

func (b *brokenReader) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, "partial data"), nil
	}
	return 0, io.ErrUnexpectedEOF
}

func TestClientAbortLeavesNothing(t *testing.T) {
	s, dir := newStore(t, Store{})
	os.WriteFile(filepath.Join(dir, "keep"), []byte("old"), 0o644)
	before := snapshot(t, dir)
	ow := claimsFor("PUT")
	ow.Overwrite = true
	for _, path := range []string{"/keep", "/new/dir/f"} {
		w := s.do(t, req{method: "PUT", path: path, body: &brokenReader{}, claims: ow, length: 1000})
		expect(t, w, 400, "incomplete_body")
		sameTree(t, dir, before)
	}
}

func TestPathsAndLinks(t *testing.T) {
	s, dir := newStore(t, Store{})
	outside := t.TempDir()
	os.Mkdir(filepath.Join(dir, "real"), 0o755)
	os.Symlink("real", filepath.Join(dir, "inlink"))
	os.Symlink(outside, filepath.Join(dir, "outlink"))
	os.WriteFile(filepath.Join(dir, "real/f"), []byte("x"), 0o644)
	os.Symlink("f", filepath.Join(dir, "real/flink"))
	os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644)
	before := snapshot(t, dir)
	ow := claimsFor("PUT", "DELETE")
	ow.Overwrite = true
	for _, tc := range []struct {
		method, path string
		status       int
		reason       string
	}{
		{"PUT", "/inlink/g", 403, "symlink"},
		{"PUT", "/outlink/g", 403, "symlink"},
		{"PUT", "/outlink/a/b", 403, "symlink"},
		{"PUT", "/real/flink", 403, "symlink"},
		{"DELETE", "/real/flink", 403, "symlink"},
		{"DELETE", "/inlink/f", 403, "symlink"},
		{"PUT", "/file/g", 409, "not_a_file"},
		{"PUT", "/real", 409, "not_a_file"},
		{"PUT", "/real/", 409, "not_a_file"},
		{"PUT", "/", 409, "not_a_file"},
		{"DELETE", "/real", 409, "not_a_file"},
		{"PUT", "/../escape", 400, "ambiguous_path"},
		{"PUT", "/real/%2e%2e/x", 400, "ambiguous_path"},
		{"PUT", "/a%2Fb", 400, "ambiguous_path"},
	} {
		q := put(tc.path, "data", ow)
		q.method = tc.method
		w := s.do(t, q)
		if w.Code != tc.status || w.Header().Get(ReasonHeader) != tc.reason {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, w.Code, w.Header().Get(ReasonHeader), tc.status, tc.reason)
		}
	}
	sameTree(t, dir, before)
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("wrote outside the root: %v", entries)
	}
}

func TestUngatedRefused(t *testing.T) {
	s, dir := newStore(t, Store{})
	before := snapshot(t, dir)
	for _, m := range []string{"PUT", "POST", "DELETE"} {
		q := put("/f", "x", nil)
		q.method = m
		expect(t, s.do(t, q), 500, "ungated")
	}
	sameTree(t, dir, before)
	if w := s.do(t, req{method: "GET", path: "/f"}); w.Code != -1 {
		t.Fatalf("GET was not passed on: %d", w.Code)
	}
}

func TestDelete(t *testing.T) {
	s, dir := newStore(t, Store{})
	c := claimsFor("DELETE")
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	expect(t, s.do(t, req{method: "DELETE", path: "/f", claims: c, header: map[string]string{"If-Match": `"old"`}}), 412, "condition_failed")
	fi, _ := os.Stat(filepath.Join(dir, "f"))
	expect(t, s.do(t, req{method: "DELETE", path: "/f", claims: c, header: map[string]string{"If-Match": etag(fi)}}), 204, "")
	if _, err := os.Stat(filepath.Join(dir, "f")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("file still there")
	}
	expect(t, s.do(t, req{method: "DELETE", path: "/f", claims: c}), 404, "not_found")
}

func TestConcurrentWritersOneVersionWins(t *testing.T) {
	s, dir := newStore(t, Store{})
	ow := claimsFor("PUT")
	ow.Overwrite = true
	const writers, size = 16, 1 << 20
	bodies := make([]string, writers)
	for i := range bodies {
		bodies[i] = strings.Repeat(string(rune('a'+i)), size)
	}
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			w := s.do(t, put("/same", bodies[i], ow))
			if w.Code != 201 && w.Code != 204 {
				t.Errorf("writer %d: %d %s", i, w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	got, _ := os.ReadFile(filepath.Join(dir, "same"))
	ok := false
	for _, b := range bodies {
		ok = ok || string(got) == b
	}
	if !ok {
		t.Fatalf("stored file is no single writer's version (%d bytes)", len(got))
	}
	if m := snapshot(t, dir); len(m) != 2 {
		t.Fatalf("stray files: %d entries", len(m))
	}

	// without overwrite, exactly one creator wins
	var created, refused int
	var mu sync.Mutex
	for i := range writers {
		wg.Go(func() {
			w := s.do(t, put("/once", bodies[i], claimsFor("PUT")))
			mu.Lock()
			defer mu.Unlock()
			switch w.Code {
			case 201:
				created++
			case 412:
				refused++
			default:
				t.Errorf("%d %s", w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	if created != 1 || refused != writers-1 {
		t.Fatalf("created %d, refused %d", created, refused)
	}
}

func formBody(t *testing.T, fields [][3]string) (*bytes.Buffer, string) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, f := range fields { // name, filename, content
		if f[1] == "" {
			mw.WriteField(f[0], f[2])
			continue
		}
		w, _ := mw.CreateFormFile(f[0], f[1])
		w.Write([]byte(f[2]))
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

func TestFormPost(t *testing.T) {
	s, dir := newStore(t, Store{MaxBytes: 100})
	post := func(fields [][3]string, mutate func([]byte) []byte) *httptest.ResponseRecorder {
		b, ct := formBody(t, fields)
		data := b.Bytes()
		if mutate != nil {
			data = mutate(data)
		}
		return s.do(t, req{method: "POST", path: "/up/f.bin", body: bytes.NewReader(data), claims: claimsFor("POST"),
			length: int64(len(data)), header: map[string]string{"Content-Type": ct}})
	}
	before := snapshot(t, dir)
	expect(t, post([][3]string{{"other", "", "v"}}, nil), 400, "bad_form")
	expect(t, post([][3]string{{"file", "a", strings.Repeat("x", 101)}}, nil), 413, "too_large")
	expect(t, post([][3]string{{"file", "a", "x"}, {"file", "b", "y"}}, nil), 400, "bad_form")
	expect(t, post([][3]string{{"file", "a", "xyz"}}, func(b []byte) []byte { return b[:len(b)-20] }), 400, "bad_form")
	expect(t, post([][3]string{{"note", "", strings.Repeat("n", FormOverhead+1)}, {"file", "a", "x"}}, nil), 413, "too_large")
	raw := put("/up/f.bin", "raw", claimsFor("POST"), "Content-Type", "application/octet-stream")
	raw.method = "POST"
	expect(t, s.do(t, raw), 415, "unsupported_type")
	sameTree(t, dir, before)

	w := post([][3]string{{"note", "", "hi"}, {"file", "a.bin", "form content"}, {"after", "", "x"}}, nil)
	expect(t, w, 201, "")
	if b, _ := os.ReadFile(filepath.Join(dir, "up/f.bin")); string(b) != "form content" {
		t.Fatalf("stored %q", b)
	}
	if w.Header().Get("ETag") == "" {
		t.Fatal("no ETag")
	}
}

func TestReasonsDoNotDuplicateTokenReasons(t *testing.T) {
	for _, s := range Reasons {
		for _, r := range token.Reasons {
			if string(s) == string(r) {
				t.Errorf("store reason %q is also a token reason", s)
			}
		}
		if s.Status() < 400 {
			t.Errorf("reason %q has status %d", s, s.Status())
		}
	}
}
