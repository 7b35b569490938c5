package caddymodule

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
)

// tokenSpellings are the ways a client can write a token into a URL; the
// filter must leave no usable form of any of them in a log.
func tokenSpellings(tok string) map[string]string {
	dot := strings.Index(tok, ".")
	return map[string]string{
		"plain":              "/photos/alice/a.txt?vk=" + tok,
		"escaped dot":        "/photos/alice/a.txt?vk=" + strings.ReplaceAll(tok, ".", "%2E"),
		"escaped e":          "/photos/alice/a.txt?vk=%65" + tok[1:],
		"LF after eyJ":       "/photos/alice/a.txt?vk=" + tok[:3] + "%0A" + tok[3:],
		"CR in signature":    "/photos/alice/a.txt?vk=" + tok[:len(tok)-5] + "%0D" + tok[len(tok)-5:],
		"trailing LF":        "/photos/alice/a.txt?vk=" + tok + "%0A",
		"double escaped":     "/photos/alice/a.txt?vk=" + strings.ReplaceAll(tok, ".", "%252E"),
		"escaped name":       "/photos/alice/a.txt?%76k=" + tok,
		"twice":              "/photos/alice/a.txt?vk=" + tok + "&vk=" + tok,
		"semicolon":          "/photos/alice/a.txt?x=1;vk=" + tok,
		"other parameter":    "/photos/alice/a.txt?token=" + tok,
		"raw hash":           "/photos/alice/a.txt?#vk=" + tok,
		"in the path":        "/~vk/" + tok + "/photos/alice/a.txt",
		"escaped in path":    "/x/" + strings.ReplaceAll(tok, ".", "%2e") + "/a.txt",
		"split by LF":        "/photos/alice/a.txt?vk=" + tok[:dot] + "%0A." + tok[dot+1:],
		"bad escape in name": "/photos/alice/a.txt?%zz=1&vk=" + tok,
		"absolute URL":       "https://files.example/photos/alice/a.txt?vk=" + tok + "#frag",
	}
}

func TestLogFilterLeavesNoToken(t *testing.T) {
	_, hs, _ := testGate(t, 0)
	tok := mintFor(t, hs, time.Minute)
	sig := tok[strings.LastIndex(tok, ".")+1:]
	f := LogFilter{Params: []string{DefaultParam}}
	for name, uri := range tokenSpellings(tok) {
		out := f.Filter(zap.String("uri", uri)).String
		if clean := strings.NewReplacer("\n", "", "\r", "").Replace(percentDecode(percentDecode(out))); strings.Contains(clean, sig[:16]) {
			t.Errorf("%s: %q logged as %q", name, uri, out)
		}
		if !strings.Contains(out, redacted) {
			t.Errorf("%s: %q logged as %q, with nothing redacted", name, uri, out)
		}
		arr := f.Filter(zap.Array("Referer", caddyhttp.LoggableStringArray{uri})).Interface.(caddyhttp.LoggableStringArray)
		if strings.Contains(percentDecode(arr[0]), sig[:16]) {
			t.Errorf("%s: Referer %q logged as %q", name, uri, arr[0])
		}
	}
}

func TestLogFilterKeepsOrdinaryURLs(t *testing.T) {
	f := LogFilter{Params: []string{DefaultParam}}
	for _, uri := range []string{
		"/photos/alice/a.txt", "/photos/alice/a.txt?x=1&y=two", "/dl/archive.2024.tar.gz?v=1.2.3",
		"/a%20b/c.txt?q=hello%20world", "https://app.example/page?id=7",
	} {
		if out := f.Filter(zap.String("uri", uri)).String; out != uri {
			t.Errorf("%q logged as %q", uri, out)
		}
	}
	if out := f.Filter(zap.String("uri", "/a.txt?vk=&x=1")).String; out != "/a.txt?vk=&x=1" {
		t.Errorf("an empty token parameter logged as %q", out)
	}
}
