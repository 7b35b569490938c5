package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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
