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
// a different one), and takes the token off before the request goes on.
// The log filter (logfilter.go) asks the same functions where a token could
// be, so the two never disagree.
//
// The token text itself must be canonical (token.Verifier.Parse): it is
// never percent-decoded, so one token has one spelling everywhere.

// carried is the token found on a request and what taking it off leaves.
type carried struct {
	raw    string // the token text, empty when none was found
	query  string // the raw query without the token parameter
	bearer bool   // the token came in the Authorization header
}

// findToken looks for the token in every carrier the site accepts.
func (h *Handler) findToken(r *http.Request) (carried, token.Reason) {
	raw, rest, reason := takeToken(r.URL.RawQuery, h.Param)
	if reason != token.Allowed && reason != token.MissingToken {
		return carried{}, reason
	}
	c := carried{raw: raw, query: rest}
	if h.Bearer {
		bearer, reason := bearerToken(r.Header)
		switch {
		case reason != token.Allowed:
			return carried{}, reason
		case bearer != "" && c.raw != "":
			return carried{}, token.DuplicateToken
		case bearer != "":
			c.raw, c.bearer = bearer, true
		}
	}
	if c.raw == "" {
		return c, token.MissingToken
	}
	return c, token.Allowed
}

// strip takes the token off an admitted request.
func (c carried) strip(r *http.Request) {
	r.URL.RawQuery = c.query
	if c.bearer {
		delete(r.Header, "Authorization")
	}
}

// takeToken finds the token parameter in a raw query and returns its value
// (as sent, never decoded) and the query without it, every other parameter
// kept byte for byte. The parameter name is matched after decoding (%76k is
// vk). A second token parameter is refused rather than guessed at, and so
// is a ';' separator, which some upstreams split on and Go does not. An
// empty value counts as no token.
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
