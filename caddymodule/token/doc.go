// Package token mints and verifies valet tokens: compact JWS (JWT) tokens
// that grant one client a narrow, short-lived right to a set of paths.
//
// It has no Caddy dependency, so applications can import it to mint tokens
// cheaply. The format is specified in docs/token.md; any JWT library that
// follows that spec produces tokens this package accepts.
//
// A gateway judges a request in three steps, each with a Reason:
//
//	path, reason := token.CanonicalPath(r.URL.EscapedPath())
//	claims, reason := verifier.Verify(raw, time.Now())
//	reason = claims.Allows(token.Request{Method: r.Method, Path: path, ...})
package token
