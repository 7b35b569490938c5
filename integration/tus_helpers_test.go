package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// tusGrant is what a resumable upload needs: create (POST), continue
// (PATCH), ask for the offset (HEAD) and cancel (DELETE).
func tusGrant(scope string, maxb int64) *token.Claims {
	c := claims(scope)
	c.Methods = []string{"POST", "PATCH", "HEAD", "DELETE"}
	c.MaxBytes = maxb
	return c
}

// tusGateway is a store gateway with resumable uploads; dir holds the
// unfinished ones.
type tusGateway struct {
	*storeGateway
	dir string
}

func startTusGateway(t testing.TB, root, resumable, gateOptions string) *tusGateway {
	t.Helper()
	dir := t.TempDir()
	g := startStoreGateway(t, root, fmt.Sprintf("resumable {\n\t\t\tdir %s\n\t\t\t%s\n\t\t}", dir, resumable), gateOptions)
	return &tusGateway{storeGateway: g, dir: dir}
}

// tus sends one tus request with the token tok: the Tus-Resumable header,
// and the header pairs given.
func (g *tusGateway) tus(t testing.TB, method, path, tok string, body []byte, headers ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	h := append([]string{"Tus-Resumable", "1.0.0"}, headers...)
	if method == "PATCH" {
		h = append(h, "Content-Type", "application/offset+octet-stream")
	}
	return do(t, method, "http://"+g.addr+path+"?vk="+tok, rd, int64(len(body)), h...)
}

// create starts an upload of length bytes (-1: deferred) at path.
func (g *tusGateway) create(t testing.TB, path, tok string, length int64, headers ...string) *http.Response {
	t.Helper()
	if length < 0 {
		headers = append(headers, "Upload-Defer-Length", "1")
	} else {
		headers = append(headers, "Upload-Length", strconv.FormatInt(length, 10))
	}
	resp, _ := g.tus(t, "POST", path, tok, nil, headers...)
	return resp
}

// patch sends a chunk at offset.
func (g *tusGateway) patch(t *testing.T, path, tok string, offset int64, chunk []byte, headers ...string) *http.Response {
	t.Helper()
	resp, _ := g.tus(t, "PATCH", path, tok, chunk, append(headers, "Upload-Offset", strconv.FormatInt(offset, 10))...)
	return resp
}

// offset asks for an upload's offset; -1 when the upload is not there.
func (g *tusGateway) offset(t *testing.T, path, tok string) int64 {
	t.Helper()
	resp, _ := g.tus(t, "HEAD", path, tok, nil)
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	n, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		t.Fatalf("HEAD Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
	return n
}

// noUploads checks that no unfinished upload is left in the upload dir.
func (g *tusGateway) noUploads(t *testing.T) {
	t.Helper()
	entries, _ := os.ReadDir(g.dir)
	if len(entries) != 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("unfinished uploads left: %v", names)
	}
}

// noPartials checks that no temporary file is anywhere under the root.
func noPartials(t *testing.T, root string) {
	t.Helper()
	for rel := range testenv.Tree(t, root) {
		if strings.HasPrefix(filepath.Base(rel), ".valet-") {
			t.Fatalf("temporary file left in the root: %s", rel)
		}
	}
}

// checkJTIBinding: a token with another jti and the same scope gets
// not_found for HEAD, PATCH and DELETE of an upload at path, which its
// owner then cancels.
func checkJTIBinding(t *testing.T, g *tusGateway, path string) {
	t.Helper()
	scope := path[:strings.LastIndex(path, "/")+1]
	a := mint(t, tusGrant(scope, 0), g.keys.hs)
	b := mint(t, tusGrant(scope, 0), g.keys.hs)
	expectReason(t, "create", g.create(t, path, a, 10), 201, "")
	expectReason(t, "A writes", g.patch(t, path, a, 0, []byte("12345")), 204, "")
	resp, _ := g.tus(t, "HEAD", path, b, nil)
	expectReason(t, "B HEAD", resp, 404, "not_found")
	expectReason(t, "B PATCH", g.patch(t, path, b, 5, []byte("67890")), 404, "not_found")
	resp, _ = g.tus(t, "DELETE", path, b, nil)
	expectReason(t, "B DELETE", resp, 404, "not_found")
	if off := g.offset(t, path, a); off != 5 {
		t.Fatalf("A's upload after B's attempts: offset %d, want 5", off)
	}
	resp, _ = g.tus(t, "DELETE", path, a, nil)
	expectReason(t, "A DELETE", resp, 204, "")
	if g.offset(t, path, a) != -1 {
		t.Fatal("terminated upload still there")
	}
}

// checkMaxBytes: maxb 1000 bounds Upload-Length, a length declared later,
// the bytes a PATCH announces, and the bytes of chunked bodies counted on
// the stream; each upload past it is discarded.
func checkMaxBytes(t *testing.T, g *tusGateway, path string) {
	t.Helper()
	scope := path[:strings.LastIndex(path, "/")+1]
	tok := mint(t, tusGrant(scope, 1000), g.keys.hs)
	expectReason(t, "Upload-Length over maxb", g.create(t, path, tok, 1001), 413, "too_large")

	expectReason(t, "deferred", g.create(t, path, tok, -1), 201, "")
	expectReason(t, "within", g.patch(t, path, tok, 0, randomBytes(t, 600)), 204, "")
	expectReason(t, "declared over maxb", g.patch(t, path, tok, 600, randomBytes(t, 10), "Upload-Length", "1001"), 413, "too_large")
	if g.offset(t, path, tok) != -1 {
		t.Fatal("an upload past maxb was kept")
	}

	expectReason(t, "deferred again", g.create(t, path, tok, -1), 201, "")
	expectReason(t, "Content-Length over maxb", g.patch(t, path, tok, 0, randomBytes(t, 1001)), 413, "too_large")

	// A creation that carries a body, deferred length, chunked: counted too.
	resp, _ := do(t, "POST", "http://"+g.addr+path+"?vk="+tok, bytes.NewReader(randomBytes(t, 5000)), -1,
		"Tus-Resumable", "1.0.0", "Content-Type", "application/offset+octet-stream", "Upload-Defer-Length", "1")
	expectReason(t, "creation with a chunked body over maxb", resp, 413, "too_large")
	eventually(t, 5*time.Second, func() bool { return g.offset(t, path, tok) == -1 }, "the upload is discarded")

	// A chunked body announces nothing: the bytes are counted.
	expectReason(t, "deferred, chunked", g.create(t, path, tok, -1), 201, "")
	resp, _ = do(t, "PATCH", "http://"+g.addr+path+"?vk="+tok, bytes.NewReader(randomBytes(t, 5000)), -1,
		"Tus-Resumable", "1.0.0", "Content-Type", "application/offset+octet-stream", "Upload-Offset", "0")
	expectReason(t, "chunked body over maxb", resp, 413, "too_large")
	eventually(t, 5*time.Second, func() bool { return g.offset(t, path, tok) == -1 }, "the upload is discarded")
}

// cutPatch sends a PATCH of length bytes at offset whose connection
// closes after sent.
func cutPatch(t *testing.T, addr, path, tok string, offset, length int64, sent []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PATCH %s?vk=%s HTTP/1.1\r\nHost: %s\r\nTus-Resumable: 1.0.0\r\n"+
		"Content-Type: application/offset+octet-stream\r\nUpload-Offset: %d\r\nContent-Length: %d\r\n\r\n",
		path, tok, addr, offset, length)
	conn.Write(sent)
	time.Sleep(300 * time.Millisecond)
	conn.Close()
}

// startUpload creates an upload of data at path (its own URL the
// Location, with Upload-Expires) and sends its first n bytes.
func startUpload(t *testing.T, g *tusGateway, path, tok string, data []byte, n int) {
	t.Helper()
	resp := g.create(t, path, tok, int64(len(data)), "Upload-Metadata", "filetype dmlkZW8vbXA0")
	expectReason(t, "create", resp, 201, "")
	if loc := resp.Header.Get("Location"); loc != path {
		t.Fatalf("Location %q, want the destination's own path", loc)
	}
	if resp.Header.Get("Upload-Expires") == "" {
		t.Fatal("no Upload-Expires on creation")
	}
	resp = g.patch(t, path, tok, 0, data[:n])
	expectReason(t, "first chunk", resp, 204, "")
	if resp.Header.Get("Upload-Offset") != strconv.Itoa(n) {
		t.Fatalf("Upload-Offset %q", resp.Header.Get("Upload-Offset"))
	}
}
