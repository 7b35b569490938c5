package caddymodule

import (
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// ReasonHeader carries the machine-readable reason of a denial.
const ReasonHeader = "Valet-Reason"

// deny refuses a request with the reason's status, header and body, and
// logs the token id (when known) and the reason: never the token.
func (h *Handler) deny(w http.ResponseWriter, r *http.Request, c *token.Claims, reason token.Reason) error {
	countDecision(reason)
	jti := ""
	if c != nil {
		jti = c.ID
	}
	h.logger.Info("valet denied request",
		zap.String("reason", string(reason)),
		zap.String("jti", jti),
		zap.String("method", r.Method),
		zap.String("path", h.loggedPath(r)))
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		repl.Set("valet.reason", string(reason))
		repl.Set("valet.jti", jti)
	}
	h.corsDenied(w, r)
	status := reason.Status()
	w.Header().Set(ReasonHeader, string(reason))
	w.Header().Set("Referrer-Policy", referrerPolicy)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Valet error="`+string(reason)+`"`)
	}
	if h.UseErrorRoutes {
		return caddyhttp.Error(status, reason)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err := w.Write([]byte(string(reason) + "\n"))
	return err
}

// loggedPath is what a denial's log line shows of the path: the path as
// judged, without a path token, or, when it could not be judged, the raw
// path; either with anything token-like redacted, at most 256 bytes.
func (h *Handler) loggedPath(r *http.Request) string {
	p := r.URL.EscapedPath()
	if h.PathMarker != "" {
		if _, rest, ok := splitPathToken(p, h.PathMarker); ok {
			p = rest
		}
	}
	if judged, reason := token.CanonicalPath(p); reason == token.Allowed {
		p = judged
	}
	p = LogFilter{}.redactURL(p)
	return p[:min(len(p), 256)]
}
