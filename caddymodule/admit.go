package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/grant"
	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// methodOverrides are headers some frameworks honour to change the method
// after the gate has judged it (in canonical form: deleted from the map
// directly, on every request).
var methodOverrides = []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"}

// admit prepares an allowed request for the next handler: exactly the
// judged path, no token in the query, no method override, the grant and
// placeholders, and no Referer leak from what it serves. It runs on every
// admitted request, so it allocates as little as it can: the grant goes
// into Caddy's vars (no request copy), the placeholders are answered when
// asked (one provider, not four boxed values), and the access log's field
// is added only where there is an access log.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, c *token.Claims, path string, tok carried) {
	h.strip(r, tok, path)
	for _, name := range methodOverrides {
		delete(r.Header, name)
	}
	h.Cookie.set(w, r, c, tok)
	grant.Set(r, c)

	ctx := r.Context()
	if repl, ok := ctx.Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Map(placeholders(c, path))
	}
	if srv, ok := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok && srv.Logs == nil {
		return // no access log on this server: nobody reads the field
	}
	if extra, ok := ctx.Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.String("valet_jti", c.ID))
	}
}

// placeholders answers {valet.jti}, {valet.kid}, {valet.group} and
// {valet.path} for a request admitted with c on the judged path.
func placeholders(c *token.Claims, path string) caddy.ReplacerFunc {
	return func(key string) (any, bool) {
		switch key {
		case "valet.jti":
			return c.ID, true
		case "valet.kid":
			return c.KeyID(), true
		case "valet.group":
			return c.Group, true
		case "valet.path":
			return path, true
		}
		return nil, false
	}
}
