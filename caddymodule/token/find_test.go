package token_test

import (
	"strings"
	"testing"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func TestContainsToken(t *testing.T) {
	tok := rawJWS(hsHeader(), claimsAt(nil), hmacSigner(testSecret))
	std := strings.NewReplacer("-", "+", "_", "/").Replace(tok)
	spaced := rawJWS(`{ "alg":"HS256","kid":"hs1"}`, claimsAt(nil), hmacSigner(testSecret))
	for _, text := range []string{
		tok, "/photos/alice/a.jpg?vk=" + tok, "/~vk/" + tok + "/x", "x=" + tok + "&y=1",
		std, tok + "==", spaced, "/" + tok, "a.b/" + tok,
		strings.SplitAfterN(tok, ".", 3)[0] + strings.SplitAfterN(tok, ".", 3)[1], // header.payload.
	} {
		if !token.ContainsToken(text) {
			t.Errorf("ContainsToken(%.60q...) = false", text)
		}
	}
	for _, text := range []string{
		"", "/photos/alice/a.jpg", "file.tar.gz", "v1.2.3", "/a/b.c.d/e", "eyJ", "eyJhbGciOiJIUzI1NiJ9.", "x=1&y=2.3.4",
		"archive.2024.tar.gz", "eyJhbGciOiJIUzI1NiJ9", "weird.name.with.many.dots.txt",
	} {
		if token.ContainsToken(text) {
			t.Errorf("ContainsToken(%q) = true", text)
		}
	}
}
