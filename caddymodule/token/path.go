package token

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// MaxPathLength bounds the request paths a gateway will judge.
const MaxPathLength = 4096

// CanonicalPath turns a request's escaped path (URL.EscapedPath, as sent)
// into the one path a token is judged against, or refuses it with
// AmbiguousPath. The rules are the spec's: anything a file server, a proxy
// or an object store could read two ways is refused, never repaired.
//
//   - empty, relative or over MaxPathLength: refused;
//   - an encoded slash (%2F) or backslash (%5C), or a raw backslash: refused;
//   - a "." or ".." segment, raw or percent-encoded: refused;
//   - a '%' left after one decoding (double encoding): refused;
//   - NUL, control characters or invalid UTF-8 after decoding: refused;
//   - runs of slashes collapse to one, as Caddy's matchers see them.
func CanonicalPath(escaped string) (string, Reason) {
	if escaped == "" || escaped[0] != '/' || len(escaped) > MaxPathLength {
		return "", AmbiguousPath
	}
	if strings.Contains(escaped, `\`) || containsFold(escaped, "%2f") || containsFold(escaped, "%5c") {
		return "", AmbiguousPath
	}
	decoded, err := url.PathUnescape(escaped)
	if err != nil {
		return "", AmbiguousPath
	}
	return canonical(decoded)
}

// canonical judges a decoded path; CanonicalPath and checkScope share it.
func canonical(p string) (string, Reason) {
	if p == "" || p[0] != '/' || strings.ContainsAny(p, `%\`) || !utf8.ValidString(p) {
		return "", AmbiguousPath
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return "", AmbiguousPath
		}
	}
	var b strings.Builder
	clean := !strings.Contains(p, "//")
	if !clean {
		b.Grow(len(p))
	}
	for rest := p[1:]; ; {
		seg, tail, more := strings.Cut(rest, "/")
		if seg == "." || seg == ".." {
			return "", AmbiguousPath
		}
		if !clean && seg != "" {
			b.WriteByte('/')
			b.WriteString(seg)
		}
		if !more {
			break
		}
		rest = tail
	}
	if clean {
		return p, Allowed
	}
	if strings.HasSuffix(p, "/") {
		b.WriteByte('/')
	}
	if b.Len() == 0 {
		return "/", Allowed
	}
	return b.String(), Allowed
}

// InScope reports whether a canonical path is inside a scope: a scope ending
// in "/" covers its subtree, any other scope exactly itself. Matching is
// byte-exact and case-sensitive, so "/a/" never covers "/a2/x" or "/A/x".
func InScope(scope, path string) bool {
	if strings.HasSuffix(scope, "/") {
		return strings.HasPrefix(path, scope)
	}
	return path == scope
}

// containsFold reports whether s contains an escape like "%2f" in any case.
// It jumps from '%' to '%': paths are judged on every request.
func containsFold(s, escape string) bool {
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			return false
		}
		s = s[i:]
		if len(s) >= len(escape) && strings.EqualFold(s[:len(escape)], escape) {
			return true
		}
		s = s[1:]
	}
}
