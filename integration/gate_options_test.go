package integration

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// no_token pass serves token-less requests unjudged but still judges (and
// denies) a bad token; use_error_routes hands denials to handle_errors with
// the reason as {http.error.message}, and keeps the Valet-Reason header.
func TestGateOptions(t *testing.T) {
	k := newKeys(t)
	root := t.TempDir()
	mustWrite(t, filepath.Join(root, "public/readme.txt"), "public")
	mustWrite(t, filepath.Join(root, "private/a.txt"), "private")
	pass := testenv.Addr(testenv.FreePort(t))
	routed := testenv.Addr(testenv.FreePort(t))
	caddyfile := fmt.Sprintf(`http://%s {
	root * %s
	valet {
		key hs1 hs256 {file.%s}
		no_token pass
		param token
	}
	file_server
}
http://%s {
	root * %s
	valet {
		key hs1 hs256 {file.%s}
		use_error_routes
	}
	file_server
	handle_errors {
		respond "denied by the gate: {http.error.message} ({valet.reason})" {http.error.status_code}
	}
}
`, pass, root, k.hsFile, routed, root, k.hsFile)
	testenv.StartCaddy(t, caddyfile, "http://"+pass+"/")
	tok := mint(t, claims("/private/"), k.hs)

	if resp, body := rawRequest(t, pass, "GET", "/public/readme.txt"); resp.StatusCode != 200 || body != "public" {
		t.Fatalf("no_token pass, no token: %d %q", resp.StatusCode, body)
	}
	if resp, _ := rawRequest(t, pass, "GET", "/public/readme.txt?token=garbage"); resp.StatusCode != 401 || resp.Header.Get("Valet-Reason") != "malformed_token" {
		t.Fatalf("no_token pass, bad token: %d %q", resp.StatusCode, resp.Header.Get("Valet-Reason"))
	}
	// The path is judged before the token, so pass never serves a path
	// that could be read two ways; an empty token parameter is no token.
	if resp, _ := rawRequest(t, pass, "GET", "/private/%2e%2e/public/readme.txt"); resp.StatusCode != 400 || resp.Header.Get("Valet-Reason") != "ambiguous_path" {
		t.Fatalf("no_token pass, ambiguous path: %d %q", resp.StatusCode, resp.Header.Get("Valet-Reason"))
	}
	if resp, body := rawRequest(t, pass, "GET", "/public/readme.txt?token="); resp.StatusCode != 200 || body != "public" {
		t.Fatalf("no_token pass, empty token parameter: %d %q", resp.StatusCode, body)
	}
	if resp, body := rawRequest(t, pass, "GET", "/private/a.txt?token="+tok); resp.StatusCode != 200 || body != "private" {
		t.Fatalf("custom param: %d %q", resp.StatusCode, body)
	}
	if resp, _ := rawRequest(t, pass, "GET", "/private/a.txt?vk="+tok); resp.StatusCode != 200 {
		// pass means pass: any request without the token parameter is served
		// unjudged, whatever its path; limit it with route matchers.
		t.Fatalf("vk is not the token parameter here; token-less requests pass: %d", resp.StatusCode)
	}

	// A counted token on a gate that cannot count is refused, not admitted
	// without limit.
	counted := claims("/private/")
	counted.Uses = 1
	if resp, _ := rawRequest(t, pass, "GET", "/private/a.txt?token="+mint(t, counted, k.hs)); resp.StatusCode != 403 || resp.Header.Get("Valet-Reason") != "uses_unsupported" {
		t.Fatalf("counted token without a revocation store: %d %q", resp.StatusCode, resp.Header.Get("Valet-Reason"))
	}

	resp, body := rawRequest(t, routed, "GET", "/public/readme.txt?vk="+tok)
	if resp.StatusCode != 403 || body != "denied by the gate: out_of_scope (out_of_scope)" || resp.Header.Get("Valet-Reason") != "out_of_scope" {
		t.Fatalf("use_error_routes: %d %q %q", resp.StatusCode, body, resp.Header.Get("Valet-Reason"))
	}
}
