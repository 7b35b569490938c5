// Package caddymodule is caddy-valet's Caddy glue: the valet gate
// (http.handlers.valet), its Caddyfile directive and the `caddy valet`
// commands. Importing it registers every caddy-valet module.
package caddymodule

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the valet gate. It lets a request through only when the query
// string carries a valid valet token that grants it: signature by a
// configured key, path scope, method, time, and the token's constraints.
// The next handler sees the judged path and never the token.
type Handler struct {
	// Keys are the live verification keys, looked up by the token's kid.
	// Several may be live at once, for rotation.
	Keys []Key `json:"keys,omitempty"`

	// Param is the query parameter that carries the token. Default: vk.
	Param string `json:"param,omitempty"`

	// Bearer accepts the token in an "Authorization: Bearer <token>" header
	// too, for API clients and SDKs: it never enters a URL, a history, a
	// Referer or an access log. A request still carries one token at most,
	// across all carriers; the header is removed before the next handler.
	Bearer bool `json:"bearer,omitempty"`

	// PathMarker, when set, lets the token travel as a path segment too:
	// /<marker>/<token>/photos/alice/video/index.m3u8. The gate takes it
	// off and judges the rest, so relative links in what is served (HLS
	// segments, images of a page, a directory listing) carry the token by
	// themselves. A marker like "~vk" is one path segment.
	PathMarker string `json:"path_marker,omitempty"`

	// Cookie, when set, lets the token travel in a cookie too, and can
	// have the gate set that cookie (see CookieCarrier).
	Cookie *CookieCarrier `json:"cookie,omitempty"`

	// Audience, when set, must appear in the token's aud claim, so a token
	// minted for one site does not open another sharing its key.
	Audience string `json:"audience,omitempty"`

	// Leeway is the clock skew allowed on exp and nbf. Default: 30s.
	Leeway *caddy.Duration `json:"leeway,omitempty"`

	// MaxTTL refuses tokens that live longer than this (exp-iat, or exp-now
	// for tokens without iat), whatever their minter intended. Default: 24h.
	MaxTTL caddy.Duration `json:"max_ttl,omitempty"`

	// NoToken says what to do with a request that carries no token: "deny"
	// (the default) or "pass" it on unjudged, e.g. for public files beside
	// private ones. A request with a bad token is always denied.
	NoToken string `json:"no_token,omitempty"`

	// UseErrorRoutes returns denials as Caddy HTTP errors, so the site's
	// handle_errors routes render them ({http.error.message} is the reason).
	// By default the gate answers itself, with the reason as the body.
	UseErrorRoutes bool `json:"use_error_routes,omitempty"`

	// VerifiedCacheSize bounds the cache of verified tokens (entries), which
	// spares hot tokens the signature check. A token enters it on its
	// second use (one used once never costs an insert). 0 means 100000; -1
	// disables it.
	VerifiedCacheSize int64 `json:"verified_cache_size,omitempty"`

	// CORSOrigins are the browser origins (like https://app.example.com)
	// whose pages may use tokens on this site; "*" allows any origin. A
	// token's origins claim narrows it further. Empty: no CORS at all.
	CORSOrigins []string `json:"cors_origins,omitempty"`

	// Revocation, when set, checks every admitted token against a
	// revocation list and its use count (see Revocation).
	Revocation *Revocation `json:"revocation,omitempty"`

	// Symlinks says which symbolic links the next handler (file_server) may
	// read through: "scope" (the default) follows a link only when its
	// target stays inside the token's scope, "never" follows none, "follow"
	// follows every link as the operating system does (docs/files.md).
	Symlinks string `json:"symlinks,omitempty"`

	files    *fileConfiner
	verifier *token.Verifier
	verified *verifiedCache
	logger   *zap.Logger
	now      func() time.Time
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.valet",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Defaults for the optional settings.
const (
	DefaultParam             = "vk"
	DefaultLeeway            = 30 * time.Second
	DefaultMaxTTL            = 24 * time.Hour
	defaultVerifiedCacheSize = 100_000
)

// Provision resolves the keys and builds the verifier and caches.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	h.now = time.Now
	if h.Param == "" {
		h.Param = DefaultParam
	}
	if h.NoToken == "" {
		h.NoToken = "deny"
	}
	leeway := DefaultLeeway
	if h.Leeway != nil {
		leeway = time.Duration(*h.Leeway)
	}
	maxTTL := DefaultMaxTTL
	if h.MaxTTL != 0 {
		maxTTL = time.Duration(h.MaxTTL)
	}
	var err error
	if h.files, err = newFileConfiner(ctx, h.Symlinks); err != nil {
		return fmt.Errorf("valet: %w", err)
	}
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return fmt.Errorf("valet: %w", err)
	}
	repl := caddy.NewReplacer()
	keys := make([]*token.Key, 0, len(h.Keys))
	for _, k := range h.Keys {
		key, err := k.load(repl)
		if err != nil {
			return fmt.Errorf("valet: %w", err)
		}
		keys = append(keys, key)
	}
	keySet, err := token.NewKeySet(keys...)
	if err != nil {
		return fmt.Errorf("valet: keys: %w", err)
	}
	h.verifier = &token.Verifier{Keys: keySet, Audience: h.Audience, Leeway: leeway, MaxTTL: maxTTL}
	if size := h.VerifiedCacheSize; size >= 0 {
		if size == 0 {
			size = defaultVerifiedCacheSize
		}
		if h.verified, err = newVerifiedCache(size); err != nil {
			return fmt.Errorf("valet: verified-token cache: %w", err)
		}
	}
	if h.Cookie != nil {
		if err := h.Cookie.provision(h.Param); err != nil {
			return fmt.Errorf("valet: %w", err)
		}
	}
	if h.Revocation != nil {
		if err := h.Revocation.provision(ctx, maxTTL+leeway); err != nil {
			return fmt.Errorf("valet: revocation: %w", err)
		}
	}
	return nil
}

// Validate refuses settings that cannot work.
func (h *Handler) Validate() error {
	if h.NoToken != "deny" && h.NoToken != "pass" {
		return fmt.Errorf("valet: no_token must be deny or pass, not %q", h.NoToken)
	}
	if m := h.PathMarker; m != "" {
		if p, reason := token.CanonicalPath("/" + m); reason != token.Allowed || p != "/"+m || strings.Contains(m, "/") {
			return fmt.Errorf("valet: path_marker must be one path segment with no escapes, like ~vk, not %q", m)
		}
	}
	if h.Leeway != nil && (*h.Leeway < 0 || time.Duration(*h.Leeway) > 10*time.Minute) {
		return fmt.Errorf("valet: leeway must be between 0 and 10m")
	}
	if h.MaxTTL < 0 {
		return fmt.Errorf("valet: max_ttl must not be negative")
	}
	if h.Revocation != nil {
		if err := h.Revocation.validate(); err != nil {
			return fmt.Errorf("valet: %w", err)
		}
	}
	return validateOrigins(h.CORSOrigins)
}

// Cleanup releases the caches.
func (h *Handler) Cleanup() error {
	if h.verified != nil {
		h.verified.close()
	}
	h.Revocation.cleanup()
	h.files.cleanup()
	return nil
}

// ServeHTTP judges the request and either denies it or passes it on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if isPreflight(r) {
		return h.preflight(w, r, next)
	}
	claims, path, tok, reason := h.judge(r, r.Method)
	if reason == token.MissingToken && h.NoToken == "pass" {
		return h.serveConfined(w, w, r, nil, "", next)
	}
	if reason == token.OutOfScope && h.isScopeDir(r, claims, path) {
		return h.redirectToDir(w, r, claims, path, tok)
	}
	if reason == token.Allowed {
		reason = h.corsAllowed(w, r, claims)
	}
	if reason == token.Allowed { // last, since a counted token spends a use here
		client := "" // only a counted token's session is keyed by address
		if claims.Uses > 0 {
			client = clientAddr(r).String()
		}
		reason = h.Revocation.Check(r.Context(), claims, client, true)
	}
	if reason != token.Allowed {
		return h.deny(w, r, claims, reason)
	}
	countDecision(token.Allowed)
	out := h.promiseHeaders(w, r, claims.Response, tok)
	h.admit(out, r, claims, path, tok)
	err := h.serveConfined(w, out, r, claims, path, next)
	if err != nil { // the server or an error route answers, through w's headers
		w.Header().Set("Referrer-Policy", referrerPolicy)
	}
	return err
}

// judge walks a request through the gate's checks in the spec's order: the
// request target and path, the token's carriers, the token itself, then
// the grant for method (the request's own, or the one a preflight
// announces). It returns the claims when they are known, so a denial can
// name the token id; the judged path; and the token as carried.
func (h *Handler) judge(r *http.Request, method string) (claims *token.Claims, path string, tok carried, reason token.Reason) {
	if !isOriginForm(r) {
		return nil, "", tok, token.AmbiguousPath
	}
	tok, carried := h.findToken(r)
	if path, reason = token.CanonicalPath(tok.escaped); reason != token.Allowed {
		return nil, "", tok, reason
	}
	if carried != token.Allowed {
		return nil, path, tok, carried
	}
	if claims, reason = h.verify(tok.raw); reason != token.Allowed {
		return claims, path, tok, reason
	}
	if tok.from == inCookie && method != http.MethodGet && method != http.MethodHead {
		// Browsers send cookies with cross-site requests: a cookie grants
		// reading only, whatever its token says (CSRF).
		return claims, path, tok, token.MethodNotAllowed
	}
	req := h.request(r, path, claims)
	req.Method = method
	return claims, path, tok, claims.Allows(req)
}

// isOriginForm reports whether the request target is a path (origin-form).
// Any other form (absolute-form naming a host, authority-form of CONNECT,
// the asterisk) is refused: a gate judges paths, and a proxy or server
// behind it could read such a target another way.
func isOriginForm(r *http.Request) bool {
	return r.URL.Scheme == "" && r.URL.Host == "" && r.URL.Opaque == "" && r.Method != http.MethodConnect
}

// verify checks a token, through the verified-token cache when enabled.
// On a denial the claims are returned when known, so the log names the jti.
func (h *Handler) verify(raw string) (*token.Claims, token.Reason) {
	now := h.now()
	if h.verified == nil {
		return h.verifier.Verify(raw, now)
	}
	claims, hit := h.verified.get(raw)
	if !hit {
		var reason token.Reason
		if claims, reason = h.verifier.Parse(raw); reason != token.Allowed {
			return nil, reason
		}
		h.verified.put(raw, claims, claims.ExpiresAt.Add(h.verifier.Leeway))
	}
	return claims, h.verifier.Valid(claims, now)
}

// request gathers what the token package needs to judge r with c: the
// client address only when c limits it.
func (h *Handler) request(r *http.Request, path string, c *token.Claims) token.Request {
	req := token.Request{Method: r.Method, Path: path, HTTPS: r.TLS != nil}
	if len(c.IPs) > 0 {
		req.ClientIP = clientAddr(r)
	}
	return req
}

// clientAddr is Caddy's client IP (trusted_proxies applied), or the peer's.
func clientAddr(r *http.Request) netip.Addr {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			addr = ap.Addr()
		}
	}
	return addr.Unmap()
}
