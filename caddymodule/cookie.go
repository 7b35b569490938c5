package caddymodule

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// CookieCarrier lets a token travel in a cookie, CloudFront-style: one
// query or path token opens a whole stream or folder for the pages and
// players that follow it. A cookie token grants GET and HEAD only, since
// browsers attach cookies to cross-site requests too; it never overrides a
// token in another carrier (two different tokens are refused); it is
// removed from the request before the next handler.
type CookieCarrier struct {
	// Name is the cookie's name. Default: the query parameter's name.
	Name string `json:"name,omitempty"`

	// Set answers an allowed GET or HEAD whose token came in the query or
	// the path with a Set-Cookie for that token, scoped as tightly as the
	// grant allows: Path is the longest directory common to the token's
	// scopes, Max-Age runs to exp, HttpOnly, Secure over TLS.
	Set bool `json:"set,omitempty"`

	// SameSite is the SameSite attribute of a cookie the gate sets: lax
	// (the default), strict or none (none requires TLS; browsers drop a
	// SameSite=None cookie without Secure).
	SameSite string `json:"same_site,omitempty"`
}

func (cc *CookieCarrier) provision(param string) error {
	if cc.Name == "" {
		cc.Name = param
	}
	if cc.SameSite == "" {
		cc.SameSite = "lax"
	}
	switch cc.SameSite {
	case "lax", "strict", "none":
	default:
		return fmt.Errorf("cookie same_site must be lax, strict or none, not %q", cc.SameSite)
	}
	if strings.ContainsAny(cc.Name, "=;, \t\r\n\"") || cc.Name == "" {
		return fmt.Errorf("cookie name %q is not a valid cookie name", cc.Name)
	}
	return nil
}

// set adds the Set-Cookie for an admitted request's token, when asked to.
func (cc *CookieCarrier) set(w http.ResponseWriter, r *http.Request, c *token.Claims, tok carried) {
	if cc == nil || !cc.Set || (tok.from != inQuery && tok.from != inPath) ||
		(r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return
	}
	age := int(time.Until(c.ExpiresAt.Time).Seconds())
	if age <= 0 {
		return // inside the leeway: a cookie would outlive nothing
	}
	v := cc.Name + "=" + tok.raw + "; Path=" + cookiePath(c.Paths) + "; Max-Age=" + strconv.Itoa(age) +
		"; HttpOnly; SameSite=" + strings.ToUpper(cc.SameSite[:1]) + cc.SameSite[1:]
	if r.TLS != nil {
		v += "; Secure"
	}
	w.Header().Add("Set-Cookie", v)
}

// cookiePath is the longest directory common to every scope: "/a/b/" for
// the scopes "/a/b/c/" and "/a/b/d.jpg". A cookie is never sent wider than
// that, and the gate still judges each request against the scopes.
func cookiePath(scopes []string) string {
	dir := func(s string) string { return s[:strings.LastIndexByte(s, '/')+1] }
	common := dir(scopes[0])
	for _, s := range scopes[1:] {
		for !strings.HasPrefix(dir(s), common) {
			common = dir(common[:len(common)-1])
		}
	}
	return common
}
