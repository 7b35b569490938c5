package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// methodOverrides are headers some frameworks honour to change the method
// after the gate has judged it (in canonical form: deleted from the map
// directly, on every request).
var methodOverrides = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// admit prepares an allowed request for the next handler: exactly the
// judged path, no token in the query, no method override, the grant in the
// context and placeholders, and no Referer leak from what it serves.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, c *token.Claims, path string, tok carried) *http.Request {
	h.strip(r, tok, path)
	for _, name := range methodOverrides {
		delete(r.Header, name)
	}
	w.Header().Set("Referrer-Policy", referrerPolicy) // for errors the server writes
	h.Cookie.set(w, r, c, tok)

	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("valet.jti", c.ID)
		repl.Set("valet.kid", c.KeyID())
		repl.Set("valet.group", c.Group)
		repl.Set("valet.path", path)
	}
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.String("valet_jti", c.ID))
	}
	return r.WithContext(token.NewContext(r.Context(), c))
}
