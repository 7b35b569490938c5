package valetstore

import (
	"github.com/valetkey/caddy-valet/caddymodule/token"
	"strings"
)

// limits are what one upload may do: the tighter of the token's grant and
// the site's config on every axis.
type limits struct {
	maxBytes  int64      // 0: unlimited
	types     [][]string // each list must contain the type; none: any type
	overwrite bool
}

func (s *Store) limits(c *token.Claims) limits {
	return grantLimits(c, s.MaxBytes, s.ContentTypes, s.NoOverwrite)
}

// grantLimits are the token's limits tightened by a site's own.
func grantLimits(c *token.Claims, maxBytes int64, types []string, noOverwrite bool) limits {
	l := limits{
		maxBytes:  tighter(maxBytes, c.MaxBytes),
		overwrite: c.Overwrite && !noOverwrite,
	}
	if len(types) > 0 {
		l.types = append(l.types, types)
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

// allowsType reports whether the declared Content-Type is in every list,
// by the token package's ctypes rule. A type declared twice is refused:
// the store and a later reader could each take a different one.
func (l limits) allowsType(declared []string) bool {
	if len(declared) > 1 {
		return false
	}
	for _, list := range l.types {
		if !token.AllowsMediaType(list, strings.Join(declared, "")) {
			return false
		}
	}
	return true
}
