package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/valetkey/caddy-valet/caddymodule/confine"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("valet", parseCaddyfile)
	// The gate judges before anything serves, writes or proxies.
	httpcaddyfile.RegisterDirectiveOrder("valet", httpcaddyfile.Before, "basic_auth")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var v Handler
	err := v.UnmarshalCaddyfile(h.Dispenser)
	return &v, err
}

// UnmarshalCaddyfile sets up the gate from Caddyfile tokens:
//
//	valet {
//	    key <id> <hs256|eddsa> <material>
//	    param <name>
//	    audience <aud>
//	    leeway <duration>
//	    max_ttl <duration>
//	    no_token <deny|pass>
//	    use_error_routes
//	    bearer
//	    path_marker <segment>
//	    cookie [<name>] {
//	        set
//	        same_site <lax|strict|none>
//	    }
//	    verified_cache_size <entries>
//	    cors_origins <origin...>
//	    revocation [bolt|redis] { ... }   (see unmarshalRevocation)
//	    symlinks <scope|never|follow>
//	}
//
// key may repeat; material is usually a placeholder such as
// {file./etc/caddy/valet.key.pub} or {env.VALET_SECRET}.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "key":
			var k Key
			if !d.Args(&k.ID, &k.Algorithm, &k.Material) || d.NextArg() {
				return d.Errf("key takes exactly three arguments: <id> <hs256|eddsa> <material>")
			}
			alg, err := parseAlg(k.Algorithm)
			if err != nil {
				return d.Err(err.Error())
			}
			k.Algorithm = string(alg)
			h.Keys = append(h.Keys, k)
		case "param":
			if !d.AllArgs(&h.Param) {
				return d.ArgErr()
			}
		case "audience":
			if !d.AllArgs(&h.Audience) {
				return d.ArgErr()
			}
		case "leeway":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			h.Leeway = &dur
		case "max_ttl":
			dur, err := durationArg(d)
			if err != nil {
				return err
			}
			h.MaxTTL = dur
		case "no_token":
			if !d.AllArgs(&h.NoToken) {
				return d.ArgErr()
			}
			if h.NoToken != "deny" && h.NoToken != "pass" {
				return d.Errf("no_token must be deny or pass, not %q", h.NoToken)
			}
		case "use_error_routes":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.UseErrorRoutes = true
		case "bearer":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Bearer = true
		case "path_marker":
			if !d.AllArgs(&h.PathMarker) {
				return d.ArgErr()
			}
		case "cookie":
			cc, err := unmarshalCookie(d)
			if err != nil {
				return err
			}
			h.Cookie = cc
		case "verified_cache_size":
			var s string
			if !d.AllArgs(&s) {
				return d.ArgErr()
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < -1 {
				return d.Errf("verified_cache_size must be a number of entries, or -1 to disable: %q", s)
			}
			h.VerifiedCacheSize = n
		case "cors_origins":
			origins := d.RemainingArgs()
			if len(origins) == 0 {
				return d.ArgErr()
			}
			h.CORSOrigins = append(h.CORSOrigins, origins...)
		case "symlinks":
			if !d.AllArgs(&h.Symlinks) {
				return d.ArgErr()
			}
			if _, err := confine.ParsePolicy(h.Symlinks); err != nil {
				return d.Err(err.Error())
			}
		case "revocation":
			rv, err := unmarshalRevocation(d)
			if err != nil {
				return err
			}
			h.Revocation = rv
		default:
			return d.Errf("unknown valet subdirective %q", d.Val())
		}
	}
	return nil
}

// unmarshalCookie reads `cookie [<name>] [{ set; same_site <mode> }]`.
func unmarshalCookie(d *caddyfile.Dispenser) (*CookieCarrier, error) {
	cc := new(CookieCarrier)
	if d.NextArg() {
		cc.Name = d.Val()
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "set":
			if d.NextArg() {
				return nil, d.ArgErr()
			}
			cc.Set = true
		case "same_site":
			if !d.AllArgs(&cc.SameSite) {
				return nil, d.ArgErr()
			}
		default:
			return nil, d.Errf("unknown cookie option %q", d.Val())
		}
	}
	return cc, nil
}

func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	var s string
	if !d.AllArgs(&s) {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, d.Errf("%s: bad duration %q: %v", d.Val(), s, err)
	}
	return caddy.Duration(dur), nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
