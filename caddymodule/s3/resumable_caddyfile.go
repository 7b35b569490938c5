package s3

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/valetkey/caddy-valet/caddymodule/valetstore"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("valet_s3_resumable", parseResumable)
	// After the gate (which orders itself before basic_auth), before
	// reverse_proxy, which gets every request that is not tus.
	httpcaddyfile.RegisterDirectiveOrder("valet_s3_resumable", httpcaddyfile.Before, "reverse_proxy")
}

func parseResumable(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	r := new(Resumable)
	err := r.UnmarshalCaddyfile(h.Dispenser)
	return r, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	valet_s3_resumable [<matcher>] {
//	    bucket            <name>
//	    region            <region>
//	    endpoint          <http(s)://host[:port]>
//	    addressing        path|virtual
//	    prefix            <key prefix>
//	    access_key_id     <id or placeholder>
//	    secret_access_key <secret or placeholder>
//	    session_token     <token or placeholder>
//	    expire            <duration>   # after the last write; default 24h
//	    max_bytes         <size>
//	    temp_dir          <path>
//	    redis [{ ... }]                # valet_store's resumable redis block
//	}
func (h *Resumable) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		switch target := h.Access.option(name); {
		case target != nil:
			if err := stringOption(d, "valet_s3_resumable", name, target); err != nil {
				return err
			}
		case name == "endpoint":
			if err := stringOption(d, "valet_s3_resumable", name, &h.Endpoint); err != nil {
				return err
			}
		case name == "temp_dir":
			if err := stringOption(d, "valet_s3_resumable", name, &h.TempDir); err != nil {
				return err
			}
		case name == "expire":
			dur, err := valetstore.DurationArg(d)
			if err != nil {
				return err
			}
			h.Expire = dur
		case name == "max_bytes":
			n, err := valetstore.SizeArg(d)
			if err != nil {
				return err
			}
			h.MaxBytes = n
		case name == "redis":
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Redis = new(valetstore.RedisLocker)
			if err := h.Redis.UnmarshalBlock(d, 1); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized valet_s3_resumable option '%s'", name)
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Resumable)(nil)
