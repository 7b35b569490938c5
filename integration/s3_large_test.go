package integration

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// s3Direct is a gated gateway whose transport speaks straight to
// versitygw, with no spy in between: what the large-object test and the
// benchmark measure is Caddy alone.
type s3Direct struct {
	*testenv.Caddy
	addr  string
	store *versity
	key   *token.Key
}

func startS3Direct(t testing.TB) *s3Direct {
	t.Helper()
	d := &s3Direct{store: startVersity(t, s3Bucket)}
	secret := token.NewHMACSecret()
	keyFile := filepath.Join(t.TempDir(), "hs1.key")
	if err := os.WriteFile(keyFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	var err error
	if d.key, err = token.NewHMACKey("hs1", []byte(secret)); err != nil {
		t.Fatal(err)
	}
	d.addr = testenv.Addr(testenv.FreePort(t))
	gate := fmt.Sprintf("valet {\n\t\tkey hs1 hs256 {file.%s}\n\t}", keyFile)
	caddyfile := s3Caddyfile(d.addr, gate, d.store.addr,
		"bucket "+s3Bucket+"\n\t\t\taccess_key_id "+s3Access+"\n\t\t\tsecret_access_key "+s3Secret)
	d.Caddy = testenv.StartCaddy(t, caddyfile, "http://"+d.addr+"/")
	return d
}

// token grants every method the tests need on the whole bucket.
func (d *s3Direct) token(t testing.TB) string {
	t.Helper()
	s, err := token.Mint(&token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Paths:            []string{"/"},
		Methods:          []string{"GET", "PUT"},
		Overwrite:        true,
	}, d.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// randomBody is size deterministic pseudo-random bytes, cheap to make.
func randomBody(size int64, seed byte) io.Reader {
	var s [32]byte
	s[0] = seed
	return io.LimitReader(rand.NewChaCha8(s), size)
}

// put streams body to u with a known length.
func put(t testing.TB, u string, body io.Reader, size int64) *http.Response {
	t.Helper()
	req, err := http.NewRequest("PUT", u, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func TestS3LargeObjectStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped under -short: moves 400 MiB through versitygw")
	}
	const size = 200 << 20
	d := startS3Direct(t)
	tok := d.token(t)
	u := s3URL(d.addr, "/big/object.bin", tok)
	pid := d.Cmd.Process.Pid

	// Warm up the gateway's pools before taking the baseline.
	put(t, s3URL(d.addr, "/big/warm.bin", tok), randomBody(1<<20, 9), 1<<20)
	baseline := testenv.ProcKiB(t, pid, "VmRSS")

	sent := sha256.New()
	start := time.Now()
	res := put(t, u, io.TeeReader(randomBody(size, 1), sent), size)
	if res.StatusCode != 200 {
		t.Fatalf("upload: %d", res.StatusCode)
	}
	t.Logf("upload of 200 MiB through the gateway: %v", time.Since(start))
	stored, err := os.Open(d.store.path(s3Bucket, "big/object.bin"))
	if err != nil {
		t.Fatal(err)
	}
	onDisk := sha256.New()
	n, _ := io.Copy(onDisk, stored)
	stored.Close()
	if n != size || !bytes.Equal(onDisk.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("stored object differs: %d bytes", n)
	}

	start = time.Now()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err = io.Copy(got, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || n != size || !bytes.Equal(got.Sum(nil), sent.Sum(nil)) {
		t.Fatalf("download: status %d, %d bytes, %v, same bytes: %v", resp.StatusCode, n, err, bytes.Equal(got.Sum(nil), sent.Sum(nil)))
	}
	t.Logf("download of 200 MiB through the gateway: %v", time.Since(start))

	peak := testenv.ProcKiB(t, pid, "VmHWM")
	t.Logf("gateway RSS: %d KiB before, peak %d KiB after moving 400 MiB", baseline, peak)
	if growth := peak - baseline; growth > 48<<10 {
		t.Errorf("gateway memory grew by %d KiB while streaming: bodies are buffered", growth)
	}
}
