package caddymodule

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Where a token travels is one concern, and this file is its one place: it
// finds the token on a request, refuses a request that carries two (in one
// carrier or across carriers: a cache, a proxy and the gate could each pick
// a different one), takes the token off before the request goes on, and
// carries it on to a redirect's target. The log filter (logfilter.go) asks
// the same functions where a token could be, so the two never disagree.
//
// The token text itself must be canonical (token.Verifier.Parse): it is
// never percent-decoded, so one token has one spelling everywhere.

// carrier names where a token came from.
type carrier uint8

const (
	noCarrier carrier = iota
	inQuery           // ?vk=<token>
	inPath            // /<marker>/<token>/rest
	inBearer          // Authorization: Bearer <token>
	inCookie          // Cookie: vk=<token>
)

// carried is the token found on a request and what taking it off leaves.
type carried struct {
	raw     string  // the token text, empty when none was found
	from    carrier // where raw came from
	escaped string  // the escaped path to judge, without a path token
	query   string  // the raw query without the token parameter
	cookie  bool    // a token cookie is present, to be removed
}

// findToken looks for the token in every carrier the site accepts. It
// always returns the path to judge, even with a refusal, since the path is
// judged first.
func (h *Handler) findToken(r *http.Request) (carried, token.Reason) {
	c := carried{escaped: r.URL.EscapedPath()}
	var found [3]carried // path, query, bearer: on the stack
	n := 0
	if h.PathMarker != "" {
		if raw, rest, ok := splitPathToken(c.escaped, h.PathMarker); ok {
			c.escaped = rest
			found[n] = carried{raw: raw, from: inPath}
			n++
		}
	}
	raw, rest, reason := takeToken(r.URL.RawQuery, h.Param)
	if reason != token.Allowed && reason != token.MissingToken {
		return c, reason
	}
	c.query = rest
	if raw != "" {
		found[n] = carried{raw: raw, from: inQuery}
		n++
	}
	if h.Bearer {
		raw, reason := bearerToken(r.Header)
		if reason != token.Allowed {
			return c, reason
		}
		if raw != "" {
			found[n] = carried{raw: raw, from: inBearer}
			n++
		}
	}
	if n > 1 {
		return c, token.DuplicateToken
	}
	if n == 1 {
		c.raw, c.from = found[0].raw, found[0].from
	}
	if h.Cookie != nil {
		raw, reason := cookieToken(r.Header, h.Cookie.Name)
		switch {
		case reason != token.Allowed:
			return c, reason
		case raw == "":
		case c.raw == "":
			c.raw, c.from, c.cookie = raw, inCookie, true
		case raw != c.raw: // a cookie never overrides another carrier
			return c, token.DuplicateToken
		default:
			c.cookie = true
		}
	}
	if c.raw == "" {
		return c, token.MissingToken
	}
	return c, token.Allowed
}

// strip takes the token off an admitted request: the next handler sees
// the judged path, the query without the parameter, and neither the
// Authorization header that carried it nor the token cookie.
func (h *Handler) strip(r *http.Request, c carried, path string) {
	r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, "", c.query
	r.RequestURI = r.URL.RequestURI()
	if c.from == inBearer {
		delete(r.Header, "Authorization")
	}
	if c.cookie {
		dropCookie(r.Header, h.Cookie.Name)
	}
}

// carryTo writes the token into a redirect target on this site (a
// path-absolute reference such as file_server's "/dir/") in the carrier
// it came in, so a folder link keeps working. Targets on other hosts, or
// with the token already, are left as they are: the token never leaves
// for another site. A header or cookie token needs no carrying.
func (h *Handler) carryTo(location string, c carried) string {
	if !strings.HasPrefix(location, "/") || strings.HasPrefix(location, "//") || strings.HasPrefix(location, `/\`) {
		return location
	}
	switch c.from {
	case inPath:
		prefix := "/" + h.PathMarker + "/"
		if strings.HasPrefix(location, prefix) { // file_server redirects from the original path
			return location
		}
		return prefix + c.raw + location
	case inQuery:
		rest, fragment, hasFragment := strings.Cut(location, "#")
		path, query, _ := strings.Cut(rest, "?")
		if _, _, reason := takeToken(query, h.Param); reason != token.MissingToken {
			return location
		}
		q := url.QueryEscape(h.Param) + "=" + c.raw
		if query != "" {
			q += "&" + query
		}
		if hasFragment {
			q += "#" + fragment
		}
		return path + "?" + q
	}
	return location
}

// splitPathToken cuts "/<marker>/<token>" off the front of an escaped
// path. The rest is what the gate judges; with nothing after the token it
// is empty, which no path is.
func splitPathToken(escaped, marker string) (raw, rest string, ok bool) {
	prefix := "/" + marker + "/"
	if !strings.HasPrefix(escaped, prefix) {
		return "", escaped, false
	}
	after := escaped[len(prefix):]
	end := strings.IndexByte(after, '/')
	if end < 0 {
		return after, "", true
	}
	return after[:end], after[end:], true
}

// takeToken finds the token parameter in a raw query and returns its value
// (as sent, never decoded) and the query without it, every other parameter
// kept byte for byte. A second token parameter is refused rather than
// guessed at, and so is a ';' separator, which some upstreams split on and
// Go does not. An empty value counts as no token.
func takeToken(rawQuery, param string) (raw, rest string, reason token.Reason) {
	if rawQuery == "" {
		return "", "", token.MissingToken
	}
	if strings.Contains(rawQuery, ";") {
		return "", "", token.AmbiguousQuery
	}
	var kept []string
	found := false
	for pair := range strings.SplitSeq(rawQuery, "&") {
		k, v, _ := strings.Cut(pair, "=")
		is, ok := isTokenParam(k, param)
		if !ok {
			return "", "", token.AmbiguousQuery
		}
		if !is {
			kept = append(kept, pair)
			continue
		}
		if found {
			return "", "", token.DuplicateToken
		}
		found, raw = true, v
	}
	if raw == "" {
		return "", rawQuery, token.MissingToken
	}
	return raw, strings.Join(kept, "&"), token.Allowed
}

// isTokenParam reports whether a raw parameter name is the token
// parameter: it is matched after decoding, so %76k is vk. ok is false when
// the name does not decode.
func isTokenParam(rawName, param string) (is, ok bool) {
	name, err := url.QueryUnescape(rawName)
	return err == nil && name == param, err == nil
}

// bearerToken reads "Authorization: Bearer <token>" (RFC 6750; the scheme
// is case-insensitive). Other schemes are not ours and are left alone; two
// Authorization headers are refused.
func bearerToken(h http.Header) (string, token.Reason) {
	values := h.Values("Authorization")
	if len(values) == 0 {
		return "", token.Allowed
	}
	if len(values) > 1 {
		return "", token.DuplicateToken
	}
	scheme, value, _ := strings.Cut(values[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", token.Allowed
	}
	if value == "" {
		return "", token.MalformedToken
	}
	return value, token.Allowed
}

// cookieToken reads the token cookie from every Cookie header. The same
// name twice with different values (a browser sends one per matching
// Path) is refused.
func cookieToken(h http.Header, name string) (string, token.Reason) {
	var raw string
	for _, line := range h.Values("Cookie") {
		for part := range strings.SplitSeq(line, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k != name || v == "" {
				continue
			}
			if raw != "" && raw != v {
				return "", token.DuplicateToken
			}
			raw = v
		}
	}
	return raw, token.Allowed
}

// dropCookie removes the named cookie from the Cookie headers, keeping the
// others as they were sent.
func dropCookie(h http.Header, name string) {
	var kept []string
	for _, line := range h.Values("Cookie") {
		var parts []string
		for part := range strings.SplitSeq(line, ";") {
			if k, _, _ := strings.Cut(strings.TrimSpace(part), "="); k != name {
				parts = append(parts, strings.TrimSpace(part))
			}
		}
		if len(parts) > 0 {
			kept = append(kept, strings.Join(parts, "; "))
		}
	}
	if len(kept) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = kept
}
