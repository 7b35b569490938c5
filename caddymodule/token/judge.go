package token

import (
	"mime"
	"net/netip"
	"strings"
)

// Request is what a gateway knows about a request when it judges it.
type Request struct {
	Method   string
	Path     string // from CanonicalPath
	ClientIP netip.Addr
	HTTPS    bool
}

// Allows judges a request against verified claims: path scope, method,
// client address and transport. GET grants HEAD too, so players and
// download managers may probe; Range and conditional requests are GETs.
func (c *Claims) Allows(r Request) Reason {
	if !c.CoversPath(r.Path) {
		return OutOfScope
	}
	if !c.AllowsMethod(r.Method) {
		return MethodNotAllowed
	}
	if len(c.prefixes) > 0 && !c.allowsIP(r.ClientIP) {
		return IPNotAllowed
	}
	if c.HTTPSOnly && !r.HTTPS {
		return HTTPSRequired
	}
	return Allowed
}

// CoversPath reports whether a canonical path is inside one of the scopes.
func (c *Claims) CoversPath(path string) bool {
	for _, s := range c.Paths {
		if InScope(s, path) {
			return true
		}
	}
	return false
}

// AllowsMethod reports whether the grant covers an HTTP method. Methods are
// case-sensitive (RFC 9110), so "get" is not GET.
func (c *Claims) AllowsMethod(method string) bool {
	for _, m := range c.Methods {
		if m == method || (m == "GET" && method == "HEAD") {
			return true
		}
	}
	return false
}

func (c *Claims) allowsIP(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range c.prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// AllowsMediaType reports whether a declared Content-Type is one of allowed
// (the ctypes rule, also used for a site's own list): only the media type
// counts, parameters such as charset are ignored, case is not; an empty
// list allows any type, and a missing or unparsable type passes no list.
func AllowsMediaType(allowed []string, contentType string) bool {
	if len(allowed) == 0 {
		return true
	}
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimSpace(a), media) {
			return true
		}
	}
	return false
}
