package caddymodule

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// A folder token's scope is a directory, "/photos/alice/". A user who
// follows a link to "/photos/alice" expects that folder, not a refusal, so
// a GET or HEAD for exactly a scope's directory without its slash is
// redirected to the slashed form, with the token carried along (the
// redirect spends no use of a counted token).

// isScopeDir reports whether path is one of the token's directory scopes
// without its trailing slash.
func (h *Handler) isScopeDir(r *http.Request, c *token.Claims, path string) bool {
	return c != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		slices.Contains(c.Paths, path+"/")
}

// redirectToDir answers 308 to the directory, unless the token is revoked.
func (h *Handler) redirectToDir(w http.ResponseWriter, r *http.Request, c *token.Claims, path string, tok carried) error {
	if reason := h.Revocation.Check(r.Context(), c, false); reason != token.Allowed {
		return h.deny(w, r, c, reason)
	}
	countDecision(token.Allowed)
	location := (&url.URL{Path: path + "/"}).EscapedPath()
	if tok.query != "" {
		location += "?" + tok.query
	}
	w.Header().Set("Location", h.carryTo(location, tok))
	w.Header().Set("Referrer-Policy", referrerPolicy)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusPermanentRedirect)
	return nil
}
