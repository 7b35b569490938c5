package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// The credentials of the test store, and the bucket the gateway fronts.
const (
	s3Access = "AK"
	s3Secret = "SK"
	s3Bucket = "valet"
)

// versitygwBinary finds versitygw v1.8.0, the S3-compatible test peer that
// checks every part of a SigV4 signature: $VERSITYGW, then PATH, then
// $(go env GOPATH)/bin, where `go install` (run by .ci/run) puts it.
func versitygwBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("VERSITYGW"); p != "" {
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testenv.Missing(t, "versitygw not found: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0")
	return ""
}

// versity is a running versitygw serving a posix directory.
type versity struct {
	addr string // host:port
	dir  string // one sub-directory per bucket
}

// path is where the store keeps an object on disk.
func (v *versity) path(bucket, key string) string { return filepath.Join(v.dir, bucket, key) }

func startVersity(t testing.TB, buckets ...string) *versity {
	t.Helper()
	return startVersityWith(t, nil, buckets...)
}

// startVersityWith passes extra options (region, virtual domain) to versitygw.
func startVersityWith(t testing.TB, options []string, buckets ...string) *versity {
	t.Helper()
	bin := versitygwBinary(t)
	v := &versity{addr: testenv.Addr(testenv.FreePort(t)), dir: t.TempDir()}
	for _, b := range buckets {
		if err := os.Mkdir(filepath.Join(v.dir, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logs := &strings.Builder{}
	var mu sync.Mutex
	args := append([]string{"--access", s3Access, "--secret", s3Secret, "--port", v.addr, "--quiet"}, options...)
	cmd := exec.Command(bin, append(args, "posix", v.dir)...)
	cmd.Stdout, cmd.Stderr = lockedWriter{&mu, logs}, lockedWriter{&mu, logs}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	testenv.WaitHTTP(t, "http://"+v.addr+"/", 20*time.Second, func() string {
		mu.Lock()
		defer mu.Unlock()
		return logs.String()
	})
	return v
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// s3Seen is one request as it reached the store.
type s3Seen struct {
	Method, URI, Host string
	Header            http.Header
}

// s3Spy sits between the gateway and versitygw and records what the
// gateway sent, forwarding it untouched so the signature still holds.
type s3Spy struct {
	addr string
	mu   sync.Mutex
	seen []s3Seen
}

func startS3Spy(t testing.TB, store string) *s3Spy {
	t.Helper()
	spy := &s3Spy{}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL.Scheme, pr.Out.URL.Host = "http", store
		pr.Out.Host = pr.In.Host
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		spy.mu.Lock()
		spy.seen = append(spy.seen, s3Seen{r.Method, r.RequestURI, r.Host, r.Header.Clone()})
		spy.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	spy.addr = strings.TrimPrefix(srv.URL, "http://")
	return spy
}

// take returns and forgets what the store saw so far.
func (s *s3Spy) take() []s3Seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := s.seen
	s.seen = nil
	return seen
}

// s3Caddyfile is a gateway site: the valet gate (when gate is not empty)
// and reverse_proxy with the s3 transport to upstream.
func s3Caddyfile(site, gate, upstream, transport string) string {
	return fmt.Sprintf(`
http://%s {
	%s
	reverse_proxy %s {
		transport s3 {
			%s
		}
	}
}
`, site, gate, upstream, transport)
}

// s3URL joins a gateway address, an escaped path and a token.
func s3URL(addr, escapedPath, tok string) string {
	u := "http://" + addr + escapedPath
	if tok != "" {
		u += "?vk=" + url.QueryEscape(tok)
	}
	return u
}
