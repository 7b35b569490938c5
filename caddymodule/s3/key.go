package s3

import (
	"strings"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// escapeKey percent-encodes an object key the way S3 expects it in a
// SigV4 canonical URI: every byte except A-Za-z0-9 - _ . ~ and the slash.
// Go's URL.EscapedPath leaves + ; = & and others as they are, which S3
// would read differently from what was signed.
func escapeKey(key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(key) + len(key)/2)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if unreservedOrSlash(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}

func unreservedOrSlash(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == '~' || c == '/'
}

// judgedPath returns the request path if it is already canonical, the form
// the valet gate leaves in r.URL.Path. The transport never repairs a path:
// anything CanonicalPath would change or refuse (dot segments, //, %,
// control characters) is refused, so a key can never climb out of the
// bucket or the prefix, even when no gate runs in front.
func judgedPath(path string) (string, bool) {
	canonical, reason := token.CanonicalPath(escapeKey(path))
	if reason != token.Allowed || canonical != path {
		return "", false
	}
	return path, true
}
