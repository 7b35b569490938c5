package token

import "context"

type ctxKey struct{}

// NewContext returns a context that carries the verified claims of the
// request, for the handlers behind the gate (uploads read their limits here).
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the claims the gate verified, if any.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok
}
