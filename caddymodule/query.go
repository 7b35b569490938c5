package caddymodule

import (
	"net/url"
	"strings"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// takeToken finds the token parameter in a raw query and returns the token
// and the query without it, every other parameter kept byte for byte.
// A second token parameter is refused rather than guessed at, and so is a
// ';' separator, which some upstreams split on and Go does not.
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
		key, err := url.QueryUnescape(k)
		if err != nil {
			return "", "", token.AmbiguousQuery
		}
		if key != param {
			kept = append(kept, pair)
			continue
		}
		if found {
			return "", "", token.DuplicateToken
		}
		found = true
		raw = v
		if strings.ContainsAny(v, "%+") { // a JWT needs no escaping; rarely is it escaped
			if raw, err = url.QueryUnescape(v); err != nil {
				return "", "", token.MalformedToken
			}
		}
	}
	if !found {
		return "", rawQuery, token.MissingToken
	}
	return raw, strings.Join(kept, "&"), token.Allowed
}
