// Package grant hands the claims the valet gate admitted a request with to
// the handlers behind it (valet_store, valet_files, the s3 transport).
//
// The claims travel in the request's Caddy vars, the map every handler of
// one request shares, so admitting a request does not copy it (as
// http.Request.WithContext would, on every request). Only Go code can put a
// *token.Claims there: a vars directive or placeholder that names the same
// key holds a string, which From does not take for a grant.
package grant

import (
	"context"
	"net/http"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// varKey is the vars entry that holds the grant.
const varKey = "valet.grant"

// Set records c as the grant r was admitted with. Outside Caddy's server
// (no vars map in the context) nothing is recorded, so From finds no grant
// and every handler behind the gate refuses the request: fail closed.
func Set(r *http.Request, c *token.Claims) {
	caddyhttp.SetVar(r.Context(), varKey, c)
}

// From returns the claims the gate admitted r with, if it admitted r.
func From(r *http.Request) (*token.Claims, bool) {
	c, ok := caddyhttp.GetVar(r.Context(), varKey).(*token.Claims)
	return c, ok && c != nil
}

// WithVars returns r with an empty vars map in its context, as Caddy's
// server gives every request: for tests that call a handler directly.
func WithVars(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{}))
}
