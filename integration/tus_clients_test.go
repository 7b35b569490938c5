package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// tusClientDir installs tus-js-client (integration/tusclient, npm ci) once
// per test binary and returns the folder.
var (
	tusClientOnce sync.Once
	tusClientErr  string
)

func tusClientDir(t *testing.T) (dir, node string) {
	t.Helper()
	node = testenv.Require(t, "node")
	npm := testenv.Require(t, "npm")
	dir, err := filepath.Abs("tusclient")
	if err != nil {
		t.Fatal(err)
	}
	tusClientOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			tusClientErr = fmt.Sprintf("npm ci (tus-js-client) failed: %v\n%s", err, out)
		}
	})
	if tusClientErr != "" {
		testenv.Missing(t, tusClientErr)
	}
	return dir, node
}

// nodeUpload runs the command-line client and returns its events.
func nodeUpload(t *testing.T, dir, node string, args ...string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"upload.mjs"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var events []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil {
			events = append(events, e)
		}
	}
	if err != nil {
		t.Fatalf("node upload.mjs: %v\nevents %v\n%s", err, events, stderr.Bytes())
	}
	return events
}

func lastEvent(events []map[string]any) map[string]any {
	if len(events) == 0 {
		return map[string]any{}
	}
	return events[len(events)-1]
}

// TestTusJsClientNode: tus-js-client from the command line starts an
// upload, stops mid-way, and a second run with the upload URL (and an
// endpoint the token does not cover, so it cannot start over) finishes it.
func TestTusJsClientNode(t *testing.T) {
	dir, node := tusClientDir(t)
	root := t.TempDir()
	g := startTusGateway(t, root, "", "")
	data, src := randomFile(t, "clip.bin", 8<<20+123)
	c := tusGrant("/up/", 16<<20)
	c.Methods = []string{"POST", "PATCH", "HEAD"}
	tok := mint(t, c, g.keys.hs)

	events := nodeUpload(t, dir, node, "--endpoint", "http://"+g.addr+"/up/", "--token", tok, "--file", src, "--stop-after", fmt.Sprint(3<<20))
	if e := lastEvent(events); e["event"] != "stopped" {
		t.Fatalf("first run: %v", events)
	}
	uploadURL, _ := events[0]["url"].(string)
	if uploadURL != "http://"+g.addr+"/up/clip.bin" {
		t.Fatalf("upload URL %q (events %v)", uploadURL, events)
	}
	off := g.offset(t, "/up/clip.bin", tok)
	if off <= 0 || off >= int64(len(data)) {
		t.Fatalf("offset after the stop: %d", off)
	}
	if _, err := os.Stat(filepath.Join(root, "up/clip.bin")); err == nil {
		t.Fatal("the destination exists before the upload completed")
	}
	noPartials(t, root)

	events = nodeUpload(t, dir, node, "--endpoint", "http://"+g.addr+"/elsewhere/", "--token", tok, "--file", src, "--upload-url", uploadURL)
	if e := lastEvent(events); e["event"] != "done" {
		t.Fatalf("second run: %v", events)
	}
	got, err := os.ReadFile(filepath.Join(root, "up/clip.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes (%v), want %d", len(got), err, len(data))
	}
	g.noUploads(t)
	t.Logf("resumed at %d of %d bytes", off, len(data))
}

// cutProxy forwards TCP to a gateway and, once more than cutAt bytes have
// gone upstream, cuts every connection and refuses new ones for down.
type cutProxy struct {
	ln       net.Listener
	upstream string
	cutAt    int64
	down     time.Duration
	sent     atomic.Int64
	cutOnce  sync.Once
	mu       sync.Mutex
	conns    map[net.Conn]bool
	downTill time.Time
	cuts     atomic.Int32
}

func startCutProxy(t *testing.T, upstream string, cutAt int64, down time.Duration) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, upstream: upstream, cutAt: cutAt, down: down, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refused := time.Now().Before(p.downTill)
		if !refused {
			p.conns[c] = true
		}
		p.mu.Unlock()
		if refused {
			c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	defer func() { p.mu.Lock(); delete(p.conns, c); p.mu.Unlock(); c.Close() }()
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { io.Copy(c, up); c.Close() }()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := up.Write(buf[:n]); werr != nil {
				return
			}
			if p.sent.Add(int64(n)) > p.cutAt {
				p.cutOnce.Do(p.cut)
			}
		}
		if err != nil {
			return
		}
	}
}

// cut closes every open connection and refuses new ones for a while.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.downTill = time.Now().Add(p.down)
	for c := range p.conns {
		c.Close()
	}
	p.cuts.Add(1)
}

// TestTusJsClientBrowserResumesAfterCut: tus-js-client in headless
// Chromium, on the example page (examples/tus), uploads 64 MiB across
// origins through a proxy that cuts every connection half-way and refuses
// new ones for two seconds; the client asks for the offset, resumes, and
// the stored file is byte-exact.
func TestTusJsClientBrowserResumesAfterCut(t *testing.T) {
	dir, _ := tusClientDir(t)
	testenv.Require(t, "chromium") // before the gateway and the 64 MiB file
	root := t.TempDir()
	const size = 64<<20 + 5

	var proxy *cutProxy
	var g *tusGateway
	page := filepath.Join(testenv.RepoRoot(), "examples/tus/index.html")
	bundle := filepath.Join(dir, "node_modules/tus-js-client/dist/tus.min.js")
	var app *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, page) })
	mux.HandleFunc("GET /tus.min.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, bundle) })
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		dest := "/up/" + url.PathEscape(r.URL.Query().Get("name"))
		c := tusGrant(dest, 128<<20)
		c.Methods = []string{"POST", "PATCH", "HEAD"}
		c.Origins = []string{app.URL}
		json.NewEncoder(w).Encode(map[string]string{"endpoint": "http://" + proxy.addr() + dest, "token": mint(t, c, g.keys.hs)})
	})
	app = httptest.NewServer(mux)
	t.Cleanup(app.Close)
	g = startTusGateway(t, root, "", "cors_origins "+app.URL)
	proxy = startCutProxy(t, g.addr, size/2, 2*time.Second)

	data, src := randomFile(t, "movie.bin", size)

	ctx := newBrowser(t, 150*time.Second)

	fail := func(err error) {
		logText, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("log").textContent`))
		t.Fatalf("browser: %v\npage log: %s\ngateway: %s", err, logText, g.Logs())
	}
	start := time.Now()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(app.URL+"/"),
		chromedp.SetUploadFiles("#file", []string{src}),
		chromedp.Click("#upload"),
	); err != nil {
		fail(err)
	}
	result, err := chromedp.Run(ctx, chromedp.Poll[string](`document.getElementById("result").value`,
		chromedp.WithPollingTimeout(120*time.Second)))
	if err != nil {
		fail(err)
	}
	methods, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`methods`))
	if err != nil {
		fail(err)
	}
	if result != "done" {
		fail(fmt.Errorf("page says %q; requests %v", result, methods))
	}
	got, err := os.ReadFile(filepath.Join(root, "up/movie.bin"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes (%v), want %d", len(got), err, len(data))
	}
	if proxy.cuts.Load() != 1 {
		t.Fatal("the proxy never cut the upload")
	}
	if methods[0] != "POST" || !contains(methods, "HEAD") || count(methods, "POST") != 1 {
		t.Fatalf("requests %v: want one POST, and a HEAD that found the offset after the cut", methods)
	}
	// Resumed, not restarted: what crossed the proxy is the file once, plus
	// at most the chunk in flight at the cut and the requests' heads.
	if sent := proxy.sent.Load(); sent > size+(8<<20)+(1<<20) {
		t.Fatalf("%d bytes crossed the proxy for a %d-byte file", sent, size)
	}
	g.noUploads(t)
	noPartials(t, root)
	t.Logf("%d bytes in %v, requests %v, %d bytes through the proxy", size, time.Since(start).Round(time.Millisecond), methods, proxy.sent.Load())
}

func contains(list []string, s string) bool { return count(list, s) > 0 }

func count(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}
