package token_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func TestCanonicalPath(t *testing.T) {
	long := "/" + strings.Repeat("a", token.MaxPathLength-1)
	tests := []struct {
		name, escaped, want string // want "" means refused with AmbiguousPath
	}{
		// Accepted, possibly normalized.
		{"root", "/", "/"},
		{"plain file", "/photos/alice/a.jpg", "/photos/alice/a.jpg"},
		{"directory", "/photos/alice/", "/photos/alice/"},
		{"encoded space", "/photos/alice/my%20cat.jpg", "/photos/alice/my cat.jpg"},
		{"raw space", "/photos/alice/my cat.jpg", "/photos/alice/my cat.jpg"},
		{"encoded letters", "/photos/%61lice/a.jpg", "/photos/alice/a.jpg"},
		{"plus stays plus", "/a+b", "/a+b"},
		{"utf-8 encoded", "/caf%C3%A9", "/café"},
		{"utf-8 raw", "/café", "/café"},
		{"three dots is a name", "/a/.../b", "/a/.../b"},
		{"dot inside a name", "/a/.hidden/..b/c..", "/a/.hidden/..b/c.."},
		{"double slash collapses", "/photos//alice/a.jpg", "/photos/alice/a.jpg"},
		{"leading double slash", "//photos/alice/", "/photos/alice/"},
		{"trailing slashes", "/photos/alice//", "/photos/alice/"},
		{"only slashes", "///", "/"},
		{"longest allowed", long, long},

		// Refused: shape.
		{"empty", "", ""},
		{"relative", "photos/alice/a.jpg", ""},
		{"relative dot", "./a", ""},
		{"asterisk form", "*", ""},
		{"absolute URL", "http://x/a", ""},
		{"too long", long + "a", ""},

		// Refused: dot segments, raw and encoded, anywhere.
		{"dotdot", "/photos/alice/../bob/a.jpg", ""},
		{"dotdot at end", "/photos/alice/..", ""},
		{"dotdot at start", "/../etc/passwd", ""},
		{"dot", "/photos/./alice/a.jpg", ""},
		{"dot at end", "/photos/alice/.", ""},
		{"encoded dotdot lower", "/photos/alice/%2e%2e/bob/a.jpg", ""},
		{"encoded dotdot upper", "/photos/alice/%2E%2E/bob/a.jpg", ""},
		{"half encoded dotdot", "/photos/alice/.%2e/bob/a.jpg", ""},
		{"half encoded dotdot 2", "/photos/alice/%2e./bob/a.jpg", ""},
		{"encoded dot", "/photos/%2e/alice/a.jpg", ""},
		{"dotdot after collapse", "/photos//..//bob", ""},

		// Refused: encoded separators and backslashes.
		{"encoded slash lower", "/photos/alice%2f..%2fbob/a.jpg", ""},
		{"encoded slash upper", "/photos/alice%2F..%2Fbob/a.jpg", ""},
		{"encoded slash alone", "/photos/alice%2Fx", ""},
		{"encoded backslash", "/photos/alice%5c..%5cbob/a.jpg", ""},
		{"encoded backslash upper", "/photos/alice/%5C", ""},
		{"raw backslash", `/photos/alice\..\bob\a.jpg`, ""},
		{"raw backslash alone", `/photos/alice\x`, ""},

		// Refused: double encoding, bad escapes.
		{"double encoded dot", "/photos/alice/%252e%252e/bob", ""},
		{"double encoded slash", "/photos/alice%252fbob", ""},
		{"double encoded letter", "/photos/%2561lice", ""},
		{"percent alone", "/100%", ""},
		{"bad escape", "/a%zz", ""},
		{"truncated escape", "/a%2", ""},

		// Refused: NUL, control characters, DEL.
		{"encoded NUL", "/photos/alice/a.jpg%00.png", ""},
		{"raw NUL", "/photos/alice/a\x00", ""},
		{"encoded newline", "/photos/alice/a%0a", ""},
		{"encoded CR", "/photos/alice/a%0D", ""},
		{"encoded tab", "/photos/alice/a%09", ""},
		{"raw tab", "/photos/alice/a\tb", ""},
		{"encoded DEL", "/photos/alice/a%7f", ""},
		{"encoded unit separator", "/a%1f", ""},

		// Refused: invalid UTF-8, including overlong forms of '.' and '/'.
		{"overlong dot", "/photos/alice/%c0%ae%c0%ae/bob", ""},
		{"overlong slash", "/photos/alice%c0%afbob", ""},
		{"overlong slash 3 bytes", "/a%e0%80%afb", ""},
		{"lone continuation byte", "/a%80", ""},
		{"truncated sequence", "/caf%C3", ""},
		{"surrogate", "/a%ed%a0%80", ""},
		{"raw invalid byte", "/a\xff", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := token.CanonicalPath(tt.escaped)
			if tt.want == "" {
				if reason != token.AmbiguousPath || got != "" {
					t.Fatalf("CanonicalPath(%q) = %q, %q; want refused with %q", tt.escaped, got, reason, token.AmbiguousPath)
				}
				return
			}
			if reason != token.Allowed || got != tt.want {
				t.Fatalf("CanonicalPath(%q) = %q, %q; want %q, allowed", tt.escaped, got, reason, tt.want)
			}
			// The gateway hands the canonical path on as URL.Path with no
			// RawPath; whatever escapes it then gets must judge the same.
			escaped := (&url.URL{Path: got}).EscapedPath()
			if again, r := token.CanonicalPath(escaped); r != token.Allowed || again != got {
				t.Fatalf("CanonicalPath(%q) = %q, %q; want %q again", escaped, again, r, got)
			}
		})
	}
}

func TestInScope(t *testing.T) {
	tests := []struct {
		scope, path string
		want        bool
	}{
		{"/photos/alice/", "/photos/alice/a.jpg", true},
		{"/photos/alice/", "/photos/alice/2024/a.jpg", true},
		{"/photos/alice/", "/photos/alice/", true},
		{"/photos/alice/", "/photos/alice", false}, // the directory name itself is not below it
		{"/photos/alice/", "/photos/alice2/x", false},
		{"/photos/alice/", "/photos/alice2/", false},
		{"/photos/alice/", "/photos/alicex", false},
		{"/photos/alice/", "/photos/Alice/a.jpg", false},
		{"/photos/alice/", "/PHOTOS/alice/a.jpg", false},
		{"/photos/alice/", "/photos/", false},
		{"/photos/alice/", "/", false},
		{"/photos/alice/a.jpg", "/photos/alice/a.jpg", true},
		{"/photos/alice/a.jpg", "/photos/alice/a.jpg/", false},
		{"/photos/alice/a.jpg", "/photos/alice/a.jpg/x", false},
		{"/photos/alice/a.jpg", "/photos/alice/a.jpgx", false},
		{"/photos/alice/a.jpg", "/photos/alice/A.jpg", false},
		{"/photos/alice", "/photos/alice/a.jpg", false}, // no slash: exactly itself
		{"/photos/alice", "/photos/alice", true},
		{"/", "/anything/at/all", true},
		{"/", "/", true},
		{"/café/", "/café/x", true},
		{"/café/", "/cafe/x", false},
	}
	for _, tt := range tests {
		if got := token.InScope(tt.scope, tt.path); got != tt.want {
			t.Errorf("InScope(%q, %q) = %v, want %v", tt.scope, tt.path, got, tt.want)
		}
	}
}
