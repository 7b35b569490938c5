package caddymodule

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// FuzzTakeToken checks the query split the gate makes before judging:
//
//	go test -run '^$' -fuzz '^FuzzTakeToken$' -fuzztime 10s ./caddymodule
//
// When a token is taken, the query passed on must carry no token parameter
// in any spelling (so no upstream can find a second one), keep every other
// pair byte for byte, and agree with what Go's own parser finds.
func FuzzTakeToken(f *testing.F) {
	for _, q := range []string{
		"vk=abc", "x=1&vk=abc&y=2", "vk=a&vk=b", "vk=a&%76k=b", "x=1;vk=a", "vk=%zz",
		"%zz=1&vk=a", "vk", "vk=&x", "&&vk=a&&", "v%6B=a", "vk=a%26vk%3Db", "VK=a",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, query string) {
		raw, rest, reason := takeToken(query, DefaultParam)
		if reason != token.Allowed {
			if raw != "" {
				t.Fatalf("%q: refused (%s) but returned a token", query, reason)
			}
			return
		}
		if _, _, again := takeToken(rest, DefaultParam); again != token.MissingToken {
			t.Fatalf("%q: the query passed on (%q) still holds a token: %s", query, rest, again)
		}
		if rest != "" {
			original := strings.Split(query, "&")
			for _, pair := range strings.Split(rest, "&") {
				if !slices.Contains(original, pair) {
					t.Fatalf("%q: passed on %q, whose pair %q was not sent", query, rest, pair)
				}
			}
		}
		values, err := url.ParseQuery(query)
		if err != nil {
			return // the gate is stricter than Go here only about ';', refused above
		}
		// The value is never decoded: an escaped token is refused as
		// malformed later, so only an unescaped one must match Go's view.
		if got := values[DefaultParam]; len(got) != 1 || (got[0] != raw && !strings.ContainsAny(raw, "%+")) {
			t.Fatalf("%q: the gate took %q, Go's parser sees %q", query, raw, got)
		}
	})
}
