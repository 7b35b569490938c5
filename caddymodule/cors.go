package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Browsers ask before a cross-origin upload: an OPTIONS preflight to the
// same URL, token included, without credentials. Nothing behind the gate
// may answer it (the file server would not know the grant), so the gate
// does: the token must be valid and grant the method and headers the
// browser announces, for an origin both the site (cors_origins) and the
// token (its origins claim, when present) allow. Anything else gets a bare
// 403 that says nothing about why.

// maxPreflightAge bounds how long a browser may cache a preflight answer;
// it is also never longer than the token lives.
const maxPreflightAge = 10 * time.Minute

// exposedHeaders are the response headers a page may read: the stored
// version, the reason of a refusal, and what a ranged download needs.
const exposedHeaders = "ETag, Valet-Reason, Content-Length, Content-Range, Accept-Ranges, Content-Disposition"

// grantedHeaders are the request headers a grant of each method covers:
// those the store and file server understand, nothing else.
var grantedHeaders = map[string][]string{
	http.MethodGet:    {"range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range"},
	http.MethodHead:   {"range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range"},
	http.MethodPut:    {"content-type", "content-md5", "content-digest", "repr-digest", "digest", "if-match", "if-none-match"},
	http.MethodPost:   {"content-type", "content-md5", "content-digest", "repr-digest", "digest", "if-match", "if-none-match"},
	http.MethodDelete: {"if-match", "if-none-match"},
}

// isPreflight tells a CORS preflight from a plain OPTIONS request, which
// the gate judges like any other (and denies: OPTIONS is never granted).
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && r.Header.Get("Origin") != "" &&
		r.Header.Get("Access-Control-Request-Method") != ""
}

// preflight answers a CORS preflight. It verifies the token like the gate
// does, but never passes the request on, and must not count as a use of
// the token.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	origin := r.Header.Get("Origin")
	method := r.Header.Get("Access-Control-Request-Method")
	claims, _, _, reason := h.judge(r, method)
	allowed := grantedHeaders[method]
	if reason == token.MissingToken && h.Bearer && grantedHeaders[method] != nil {
		// A browser never sends Authorization on a preflight, so a site
		// that takes header tokens answers a token-less one from its own
		// settings; the request that follows is judged in full.
		allowed = append(slices.Clip(allowed), "authorization")
		reason = token.Allowed
	} else if reason == token.MissingToken && h.NoToken == "pass" {
		return next.ServeHTTP(w, r)
	}
	if reason == token.Allowed && !h.allowsOrigin(origin, claims) {
		reason = token.OriginNotAllowed
	}
	requested, headersOK := requestedHeaders(r, allowed)
	if reason == token.Allowed && !headersOK {
		reason = token.MethodNotAllowed // a header outside the grant
	}
	if reason == token.Allowed && claims != nil {
		reason = h.Revocation.Check(r.Context(), claims, false)
	}
	if reason != token.Allowed {
		jti := ""
		if claims != nil {
			jti = claims.ID
		}
		h.logger.Info("valet refused preflight", zap.String("reason", string(reason)),
			zap.String("jti", jti), zap.String("origin", origin), zap.String("method", method))
		w.WriteHeader(http.StatusForbidden)
		return nil
	}

	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Origin", origin)
	hdr.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	hdr.Set("Access-Control-Allow-Methods", method)
	if len(requested) > 0 {
		hdr.Set("Access-Control-Allow-Headers", strings.Join(requested, ", "))
	}
	age := maxPreflightAge
	if claims != nil {
		age = min(time.Until(claims.ExpiresAt.Time), maxPreflightAge)
	}
	hdr.Set("Access-Control-Max-Age", strconv.Itoa(max(int(age.Seconds()), 0)))
	hdr.Set("Referrer-Policy", referrerPolicy)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// requestedHeaders parses Access-Control-Request-Headers and reports
// whether allowed (lower case) covers every one.
func requestedHeaders(r *http.Request, allowed []string) ([]string, bool) {
	var out []string
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			if !slices.Contains(allowed, name) {
				return nil, false
			}
			out = append(out, name)
		}
	}
	return out, true
}

// allowsOrigin: the site must list the origin (or "*", which never covers
// the opaque origin "null"), and a token that names origins must name it.
func (h *Handler) allowsOrigin(origin string, c *token.Claims) bool {
	if origin == "" {
		return false
	}
	site := slices.ContainsFunc(h.CORSOrigins, func(o string) bool {
		return o == origin || (o == "*" && origin != "null")
	})
	if !site {
		return false
	}
	return c == nil || len(c.Origins) == 0 || slices.Contains(c.Origins, origin)
}

// corsAllowed runs on every request the gate lets through. A browser
// request from an origin the token does not name is denied (the origins
// claim binds a token to its pages); an allowed origin gets the headers
// that let the page read the response.
func (h *Handler) corsAllowed(w http.ResponseWriter, r *http.Request, c *token.Claims) token.Reason {
	origin := r.Header.Get("Origin")
	if origin != "" && len(c.Origins) > 0 && !slices.Contains(c.Origins, origin) {
		return token.OriginNotAllowed
	}
	h.exposeTo(w, origin, c)
	return token.Allowed
}

// corsDenied lets a page the site allows read why it was denied.
func (h *Handler) corsDenied(w http.ResponseWriter, r *http.Request) {
	h.exposeTo(w, r.Header.Get("Origin"), nil)
}

func (h *Handler) exposeTo(w http.ResponseWriter, origin string, c *token.Claims) {
	if len(h.CORSOrigins) == 0 {
		return
	}
	w.Header().Add("Vary", "Origin")
	if h.allowsOrigin(origin, c) {
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Expose-Headers", exposedHeaders)
	}
}

// validateOrigins checks cors_origins: "*", or origins as browsers send
// them (scheme://host[:port], lower case, nothing after).
func validateOrigins(origins []string) error {
	for _, o := range origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" ||
			strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") || o != strings.ToLower(o) {
			return fmt.Errorf("valet: cors_origins: %q is not an origin like https://app.example.com", o)
		}
	}
	return nil
}
