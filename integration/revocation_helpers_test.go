package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// revGateway is a real Caddy serving a file store behind a gate with a
// revocation block.
type revGateway struct {
	*testenv.Caddy
	site string // host:port
}

// startRevGateway starts Caddy with the given revocation block (the text
// after "revocation"), keys from k and a store holding /f/a.txt.
func startRevGateway(t *testing.T, k *keys, root, revocationBlock string) *revGateway {
	t.Helper()
	g := &revGateway{site: testenv.Addr(testenv.FreePort(t))}
	caddyfile := fmt.Sprintf(`http://%s {
	root * %s
	valet {
		key hs1 hs256 {file.%s}
		key ed1 eddsa {file.%s}
		max_ttl 1h
		revocation %s
	}
	file_server
}
`, g.site, root, k.hsFile, k.edPub, revocationBlock)
	g.Caddy = testenv.StartCaddy(t, caddyfile, "http://"+g.site+"/")
	return g
}

func fileRoot(t *testing.T) string {
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "f", "a.txt"), "hello")
	return root
}

var revClient = &http.Client{Timeout: 5 * time.Second}

// get fetches /f/a.txt with a token; it returns the status and the reason.
func (g *revGateway) get(t testing.TB, tok string) (int, string) {
	t.Helper()
	st, reason, err := g.try(revClient, tok)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	return st, reason
}

// try is get for goroutines other than the test's: it returns the error.
func (g *revGateway) try(client *http.Client, tok string) (int, string, error) {
	resp, err := client.Get("http://" + g.site + "/f/a.txt?vk=" + tok)
	if err != nil {
		return 0, "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Valet-Reason"), nil
}

// admin calls the valet admin API and decodes the JSON answer into out.
func (g *revGateway) admin(t testing.TB, method, query string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+g.AdminAddr+"/valet/revocations"+query, rd)
	req.Header.Set("Content-Type", "application/json")
	resp, err := revClient.Do(req)
	if err != nil {
		t.Fatalf("admin %s: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("admin %s answer %q: %v", method, b, err)
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Logf("admin %s %s: %d %s", method, query, resp.StatusCode, b)
	}
	return resp.StatusCode
}

func (g *revGateway) revoke(t testing.TB, e revocation.Entry) {
	t.Helper()
	if st := g.admin(t, http.MethodPost, "", e, nil); st != http.StatusOK {
		t.Fatalf("revoke %s: status %d", e.Subject, st)
	}
}
