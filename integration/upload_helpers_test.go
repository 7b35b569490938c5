package integration

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// storeGateway is a real Caddy serving one site: the gate, valet_store
// and file_server over one root directory.
type storeGateway struct {
	*testenv.Caddy
	addr string // host:port
	root string
	keys *keys
}

// startStoreGateway starts it; storeOptions go into the valet_store block
// and gateOptions into the valet block.
func startStoreGateway(t testing.TB, root, storeOptions, gateOptions string) *storeGateway {
	t.Helper()
	return startStoreGatewayKeys(t, root, storeOptions, gateOptions, newKeys(t))
}

// startStoreGatewayKeys starts one with the given keys (a second gateway
// of a fleet).
func startStoreGatewayKeys(t testing.TB, root, storeOptions, gateOptions string, k *keys) *storeGateway {
	t.Helper()
	g := &storeGateway{addr: testenv.Addr(testenv.FreePort(t)), root: root, keys: k}
	caddyfile := fmt.Sprintf(`http://%s {
	root * %s
	valet {
		key hs1 hs256 {file.%s}
		%s
	}
	valet_store {
		root %s
		%s
	}
	file_server {
		hide .valet-*
	}
}
`, g.addr, root, g.keys.hsFile, gateOptions, root, storeOptions)
	g.Caddy = testenv.StartCaddy(t, caddyfile, "http://"+g.addr+"/")
	return g
}

// url is the address of path with a token for c.
func (g *storeGateway) url(t testing.TB, path string, c *token.Claims) string {
	return "http://" + g.addr + path + "?vk=" + mint(t, c, g.keys.hs)
}

// writeGrant grants every write method on a scope; ow sets overwrite.
func writeGrant(scope string, ow bool) *token.Claims {
	c := claims(scope)
	c.Methods = []string{"GET", "PUT", "POST", "DELETE"}
	c.Overwrite = ow
	return c
}

// uploadClient waits for 100 Continue when a request asks for it.
var uploadClient = &http.Client{
	Timeout:   60 * time.Second,
	Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second},
}

// do sends a request with the default client and returns status, reason
// header and body.
func do(t testing.TB, method, url string, body io.Reader, length int64, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = length
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := uploadClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// sendRaw writes a PUT head and then body bytes on a bare connection,
// exactly as given (a lying Content-Length, a body cut short), and reads
// the first response if one comes.
func sendRaw(t *testing.T, addr, head string, body []byte, hangUp bool) (*http.Response, error) {
	t.Helper()
	resp, _, err := rawExchange(t, addr, "PUT", head, body, hangUp)
	return resp, err
}

// expectReason checks a store or gate answer.
func expectReason(t *testing.T, what string, resp *http.Response, status int, reason string) {
	t.Helper()
	if resp.StatusCode != status || resp.Header.Get("Valet-Reason") != reason {
		t.Fatalf("%s: got %d %q, want %d %q", what, resp.StatusCode, resp.Header.Get("Valet-Reason"), status, reason)
	}
}

// eventually waits until cond holds (the server may still be cleaning up
// after a client that hung up), failing after limit.
func eventually(t *testing.T, limit time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runCmd runs a command and returns its combined output.
func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
