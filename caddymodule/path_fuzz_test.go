package caddymodule

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// FuzzScope checks the path judgement against the file server it guards:
//
//	go test -run '^$' -fuzz '^FuzzScope$' -fuzztime 10s ./caddymodule
//
// For any escaped request path the gate accepts, and any scope a token may
// carry that covers it, the file file_server opens
// (caddyhttp.SanitizedPathJoin under its root) lies inside that scope's
// file or directory; and it is the same file file_server would have opened
// from the request as sent, so judging never changes what is served.
func FuzzScope(f *testing.F) {
	for _, s := range [][2]string{
		{"/photos/alice/a.txt", "/photos/alice/"},
		{"//photos//alice/a%20b.txt", "/photos/alice/"},
		{"/photos/alice/%2e%2e/bob/b.txt", "/photos/alice/"},
		{"/photos/alice/..%2Fbob", "/photos/alice/"},
		{"/photos/alice2/x", "/photos/alice"},
		{"/photos/alice", "/photos/alice/"},
		{"/photos/alice/", "/photos/alice/"},
		{"/photos/alice/%c0%ae%c0%ae/x", "/photos/alice/"},
		{"/photos/alice/...", "/photos/alice/"},
		{"/photos/alice/%252e", "/photos/alice/"},
		{"/a/b.txt", "/a/b.txt"},
		{"/", "/"},
		{"/%00/x", "/"},
		{"/a/.%2e/b", "/a/"},
		{"/a\\..\\b", "/a/"},
		{"/~alice/../", "/"},
	} {
		f.Add(s[0], s[1])
	}
	const root = "/srv/store"
	f.Fuzz(func(t *testing.T, escaped, scope string) {
		path, reason := token.CanonicalPath(escaped)
		if reason != token.Allowed {
			if path != "" {
				t.Fatalf("refused %q but returned a path %q", escaped, path)
			}
			return
		}
		if again, r := token.CanonicalPath(path); r != token.Allowed || again != path {
			t.Fatalf("canonical path %q of %q is not a fixed point: %q %q", path, escaped, again, r)
		}
		file := caddyhttp.SanitizedPathJoin(root, path)
		decoded, err := url.PathUnescape(escaped)
		if err != nil {
			t.Fatalf("accepted %q, which does not even decode: %v", escaped, err)
		}
		// "/" and "//" both open the root; the join marks only the second
		// with a trailing separator, so compare without it, and compare
		// the trailing slash (directory or file) separately.
		asSent := caddyhttp.SanitizedPathJoin(root, decoded)
		if strings.TrimSuffix(asSent, "/") != strings.TrimSuffix(file, "/") || strings.HasSuffix(path, "/") != strings.HasSuffix(decoded, "/") {
			t.Fatalf("%q: the gate judged %q (file %s), the file server would open %s", escaped, path, file, asSent)
		}
		if !strings.HasPrefix(file, root) {
			t.Fatalf("%q resolves outside the root: %s", escaped, file)
		}
		c := token.Claims{Paths: []string{scope}}
		if got, r := token.CanonicalPath(scope); r != token.Allowed || got != scope || !c.CoversPath(path) {
			return // not a scope a token may carry, or not covering the path
		}
		scopeFile := caddyhttp.SanitizedPathJoin(root, scope)
		if strings.HasSuffix(scope, "/") {
			dir := strings.TrimSuffix(scopeFile, string(filepath.Separator))
			if file != dir && !strings.HasPrefix(file, dir+string(filepath.Separator)) {
				t.Fatalf("scope %q allowed %q, which opens %s outside %s", scope, escaped, file, dir)
			}
		} else if file != scopeFile {
			t.Fatalf("exact scope %q allowed %q, which opens %s, not %s", scope, escaped, file, scopeFile)
		}
	})
}
