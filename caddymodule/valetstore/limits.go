package valetstore

import (
	"mime"
	"strings"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// limits are what one upload may do: the tighter of the token's grant and
// the site's config on every axis.
type limits struct {
	maxBytes  int64      // 0: unlimited
	types     [][]string // each list must contain the type; none: any type
	overwrite bool
}

func (s *Store) limits(c *token.Claims) limits {
	l := limits{
		maxBytes:  tighter(s.MaxBytes, c.MaxBytes),
		overwrite: c.Overwrite && !s.NoOverwrite,
	}
	if len(s.ContentTypes) > 0 {
		l.types = append(l.types, s.ContentTypes)
	}
	if len(c.ContentTypes) > 0 {
		l.types = append(l.types, c.ContentTypes)
	}
	return l
}

// tighter is the smaller of two byte limits where 0 means "no limit".
func tighter(a, b int64) int64 {
	switch {
	case a <= 0:
		return b
	case b <= 0:
		return a
	default:
		return min(a, b)
	}
}

// allowsType reports whether a declared Content-Type is in every list. Only
// the media type counts (parameters like charset are ignored), compared
// case-insensitively; a missing or unparsable type passes only when no list
// restricts types.
func (l limits) allowsType(declared string) bool {
	if len(l.types) == 0 {
		return true
	}
	mt, _, err := mime.ParseMediaType(declared)
	if err != nil {
		return false
	}
	for _, list := range l.types {
		if !containsFold(list, mt) {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(strings.TrimSpace(x), s) {
			return true
		}
	}
	return false
}
