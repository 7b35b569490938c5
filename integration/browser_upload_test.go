package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// appServer plays the application: it serves the example page and mints
// a token for each file the page wants to upload, bound to its origin.
func appServer(t *testing.T, gw func() *storeGateway) *httptest.Server {
	page := filepath.Join(testenv.RepoRoot(), "examples/upload/index.html")
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, page) })
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		c := writeGrant("/up/"+url.PathEscape(name), false)
		c.Methods = []string{"PUT", "GET"}
		c.MaxBytes = 16 << 20
		c.Origins = []string{srv.URL}
		json.NewEncoder(w).Encode(map[string]string{"url": gw().url(t, "/up/"+url.PathEscape(name), c)})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowserUploadCrossOrigin: a real headless Chromium loads the example
// page from one origin, gets a token from it, uploads a file with XHR (with
// progress, so through a CORS preflight) to the gateway on another origin,
// downloads it back and compares. A page from an origin the site does not
// list gets nowhere.
func TestBrowserUploadCrossOrigin(t *testing.T) {
	var g *storeGateway
	app := appServer(t, func() *storeGateway { return g })
	stranger := appServer(t, func() *storeGateway { return g })
	root := t.TempDir()
	g = startStoreGateway(t, root, "max_bytes 64MiB", "cors_origins "+app.URL)

	data := make([]byte, 3<<20+17)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "photo.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx := newBrowser(t, 90*time.Second)

	uploadFrom := func(page string) (string, int) {
		t.Helper()
		fail := func(err error) {
			logText, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("log").textContent`))
			t.Fatalf("browser: %v\npage log: %s\ngateway: %s", err, logText, g.Logs())
		}
		err := chromedp.Do(ctx,
			chromedp.Navigate(page),
			chromedp.SetUploadFiles("#file", []string{src}),
			chromedp.Click("#upload"),
		)
		if err != nil {
			fail(err)
		}
		result, err := chromedp.Run(ctx, chromedp.Poll[string](`document.getElementById("result").value`,
			chromedp.WithPollingTimeout(60*time.Second)))
		if err != nil {
			fail(err)
		}
		progress, err := chromedp.Run(ctx, chromedp.Evaluate[int](`progressEvents`))
		if err != nil {
			fail(err)
		}
		return result, progress
	}

	result, progress := uploadFrom(app.URL + "/")
	if result != "verified" {
		t.Fatalf("page says %q", result)
	}
	if progress == 0 {
		t.Fatal("no upload progress events")
	}
	stored, err := os.ReadFile(filepath.Join(root, "up/photo.bin"))
	if err != nil || !bytes.Equal(stored, data) {
		t.Fatalf("stored file differs (%d bytes, %v)", len(stored), err)
	}
	t.Logf("uploaded %d bytes from %s with %d progress events", len(data), app.URL, progress)

	// the same page from an origin the site does not list: the preflight is
	// refused, so the browser never sends the upload
	os.Remove(filepath.Join(root, "up/photo.bin"))
	before := testenv.Tree(t, root)
	if result, _ := uploadFrom(stranger.URL + "/"); result == "verified" {
		t.Fatal("a page from an unlisted origin uploaded")
	}
	testenv.SameTree(t, root, before)
}
