package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// keys are the test keys of a gateway: an HS256 secret and an Ed25519 pair,
// written as keygen writes them.
type keys struct {
	dir              string
	hsFile, edPub    string
	hs, ed           *token.Key
	edPublicKeyBytes []byte
}

func newKeys(t testing.TB) *keys {
	t.Helper()
	k := &keys{dir: t.TempDir()}
	secret := token.NewHMACSecret()
	priv, pub, err := token.NewEd25519PEM()
	if err != nil {
		t.Fatal(err)
	}
	k.hsFile = filepath.Join(k.dir, "hs1.key")
	k.edPub = filepath.Join(k.dir, "ed1.key.pub")
	mustWrite(t, k.hsFile, secret)
	mustWrite(t, k.edPub, string(pub))
	if k.hs, err = token.ParseKey("hs1", token.HS256, []byte(secret)); err != nil {
		t.Fatal(err)
	}
	if k.ed, err = token.ParseKey("ed1", token.EdDSA, priv); err != nil {
		t.Fatal(err)
	}
	k.edPublicKeyBytes = pub
	return k
}

// claims returns a minimal valid grant: GET on scope, ten minutes.
func claims(scope ...string) *token.Claims {
	return &token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(10 * time.Minute))},
		Paths:            scope,
		Methods:          []string{"GET"},
	}
}

func mint(t testing.TB, c *token.Claims, k *token.Key) string {
	t.Helper()
	s, err := token.Mint(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustWrite(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// rawRequest sends requestURI byte for byte (no client-side cleaning or
// escaping), so the tests reach the gate with exactly the attacker's path.
func rawRequest(t *testing.T, addr, method, requestURI string, headers ...string) (*http.Response, string) {
	t.Helper()
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, requestURI, addr)
	for i := 0; i+1 < len(headers); i += 2 {
		head += headers[i] + ": " + headers[i+1] + "\r\n"
	}
	resp, body, err := rawExchange(t, addr, method, head+"\r\n", nil, false)
	if err != nil {
		t.Fatalf("%s %s: %v", method, requestURI, err)
	}
	return resp, body
}

// rawExchange writes a request head and body on a new connection exactly
// as given and, unless the client hangs up, reads the answer to a request
// of method (HEAD answers have no body to read).
func rawExchange(t *testing.T, addr, method, head string, body []byte, hangUp bool) (*http.Response, string, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	conn.Write(body) // may fail once the server has answered and closed
	if hangUp {
		return nil, "", nil
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return nil, "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), nil
}
