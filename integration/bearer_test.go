package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// TestBearerCarrier: a site with `bearer` takes the token from an
// Authorization header, sent by clients nobody here wrote (curl, Python
// requests, fetch() in Chromium from another origin), under the same rules
// as the query: one token per request, removed before the upstream.
func TestBearerCarrier(t *testing.T) {
	curl := testenv.Require(t, "curl")
	python := testenv.Require(t, "python3")
	if _, err := runCmd(python, "-c", "import requests"); err != nil {
		testenv.Missing(t, "Python requests (Debian package python3-requests)")
	}
	g := startLeakGateway(t, "http://127.0.0.1:9")
	tok := mint(t, claims("/photos/alice/"), g.keys.hs)
	url := "http://" + g.files + "/photos/alice/a.txt"

	out, err := runCmd(curl, "-sS", "-H", "Authorization: Bearer "+tok, url)
	if err != nil || out != "alice's file" {
		t.Fatalf("curl with a bearer token: %q %v", out, err)
	}
	script := `import sys, requests
r = requests.get(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
print(r.status_code, r.headers.get("Valet-Reason", ""), r.text)`
	if out, err := runCmd(python, "-c", script, url, tok); err != nil || strings.TrimSpace(out) != "200  alice's file" {
		t.Fatalf("Python requests with a bearer token: %q %v", out, err)
	}
	if out, _ := runCmd(python, "-c", script, "http://"+g.files+"/photos/bob/b.txt", tok); !strings.HasPrefix(out, "403 out_of_scope") {
		t.Fatalf("Python requests outside the scope: %q", out)
	}

	// The header never reaches the upstream.
	if resp, _ := rawRequest(t, g.proxy, "GET", "/photos/alice/page.html", "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
		t.Fatalf("proxied bearer request: %d %q", resp.StatusCode, resp.Header.Get("Valet-Reason"))
	}
	g.upstream.mu.Lock()
	last := g.upstream.received[len(g.upstream.received)-1]
	g.upstream.mu.Unlock()
	if last.Get("Authorization") != "" {
		t.Fatalf("the upstream received Authorization: %q", last.Get("Authorization"))
	}

	for _, tc := range []struct {
		name    string
		uri     string
		headers []string
		status  int
		reason  token.Reason
	}{
		{"header and query, same token", "/photos/alice/a.txt?vk=" + tok, []string{"Authorization", "Bearer " + tok}, 400, token.DuplicateToken},
		{"two Authorization headers", "/photos/alice/a.txt", []string{"Authorization", "Bearer " + tok, "Authorization", "Bearer " + tok}, 400, token.DuplicateToken},
		{"lower-case scheme", "/photos/alice/a.txt", []string{"Authorization", "bearer " + tok}, 200, ""},
		{"empty bearer", "/photos/alice/a.txt", []string{"Authorization", "Bearer "}, 401, token.MalformedToken},
		{"two spaces", "/photos/alice/a.txt", []string{"Authorization", "Bearer  " + tok}, 401, token.MalformedToken},
		{"another scheme is not a token", "/photos/alice/a.txt", []string{"Authorization", "Basic dXNlcjpwYXNz"}, 401, token.MissingToken},
	} {
		resp, body := rawRequest(t, g.files, "GET", tc.uri, tc.headers...)
		if resp.StatusCode != tc.status || token.Reason(resp.Header.Get("Valet-Reason")) != tc.reason {
			t.Errorf("%s: %d %q (%q), want %d %q", tc.name, resp.StatusCode, resp.Header.Get("Valet-Reason"), body, tc.status, tc.reason)
		}
	}

	// A site without `bearer` ignores the header.
	plain := testenv.Addr(testenv.FreePort(t))
	testenv.StartCaddy(t, fmt.Sprintf(`http://%s {
	root * %s
	valet {
		key hs1 hs256 {file.%s}
	}
	file_server
}`, plain, t.TempDir(), g.keys.hsFile), "http://"+plain+"/")
	if resp, _ := rawRequest(t, plain, "GET", "/photos/alice/a.txt", "Authorization", "Bearer "+tok); resp.StatusCode != 401 || resp.Header.Get("Valet-Reason") != "missing_token" {
		t.Fatalf("a site without bearer: %d %q", resp.StatusCode, resp.Header.Get("Valet-Reason"))
	}

	// fetch() from a page on another origin: the browser's preflight has
	// no token and is answered from cors_origins; the GET carries it.
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>app</title>`)
	}))
	t.Cleanup(page.Close)
	ctx := newBrowser(t, 60*time.Second)
	fetch := fmt.Sprintf(`fetch(%q, {headers: {Authorization: "Bearer " + %q}})
		.then(async r => r.status + " " + (r.headers.get("Valet-Reason") || "") + " " + await r.text())
		.catch(e => "error " + e)`, url, tok)
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](fetch, chromedp.EvalAwaitPromise))
	if err != nil || got != "200  alice's file" {
		t.Fatalf("fetch() with a bearer token from %s: %q %v\n%s", page.URL, got, err, g.Logs())
	}
}
