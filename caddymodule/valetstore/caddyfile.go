package valetstore

import (
	"fmt"
	"math"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("valet_store", parseCaddyfile)
	// After the gate (which runs before basic_auth), before file_server,
	// so GET falls through to file_server and writes never reach it.
	httpcaddyfile.RegisterDirectiveOrder("valet_store", httpcaddyfile.Before, "file_server")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(Store)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
// A root given inline must follow a matcher (like `valet_store * /srv/nas`),
// since a first argument starting with "/" is read as a path matcher.
//
//	valet_store [<matcher>] [<root>] {
//	    root          <path>
//	    max_bytes     <size>        # e.g. 1GiB
//	    content_types <type...>
//	    no_overwrite
//	    form_field    <name>
//	    resumable [{
//	        dir    <path>       # unfinished uploads, outside the root
//	        expire <duration>   # after the last write; default 24h
//	        redis [{            # locks in Redis, for a fleet sharing dir
//	            addresses <host:port...>
//	            lock_ttl  <duration>
//	            ...                 # the options of revocation redis
//	        }]
//	    }]
//	}
func (s *Store) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		s.Root = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "root":
			if !d.AllArgs(&s.Root) {
				return d.ArgErr()
			}
		case "max_bytes":
			n, err := SizeArg(d)
			if err != nil {
				return err
			}
			s.MaxBytes = n
		case "content_types":
			s.ContentTypes = append(s.ContentTypes, d.RemainingArgs()...)
			if len(s.ContentTypes) == 0 {
				return d.ArgErr()
			}
		case "no_overwrite":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.NoOverwrite = true
		case "form_field":
			if !d.AllArgs(&s.FormField) {
				return d.ArgErr()
			}
		case "resumable":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.Resumable = new(Resumable)
			if err := s.Resumable.unmarshalCaddyfile(d); err != nil {
				return err
			}
		default:
			return d.Errf("unknown valet_store subdirective %q", d.Val())
		}
	}
	if s.Root == "" {
		return fmt.Errorf("valet_store: root is required (as argument or subdirective)")
	}
	return nil
}

// Interface guard
var _ caddyfile.Unmarshaler = (*Store)(nil)

func (rs *Resumable) unmarshalCaddyfile(d *caddyfile.Dispenser) error {
	for d.NextBlock(1) {
		switch d.Val() {
		case "dir":
			if !d.AllArgs(&rs.Dir) {
				return d.ArgErr()
			}
		case "expire":
			dur, err := DurationArg(d)
			if err != nil {
				return err
			}
			rs.Expire = dur
		case "redis":
			if d.NextArg() {
				return d.ArgErr()
			}
			rs.Redis = new(RedisLocker)
			if err := rs.Redis.UnmarshalBlock(d, 2); err != nil {
				return err
			}
		default:
			return d.Errf("unknown resumable subdirective %q", d.Val())
		}
	}
	return nil
}

// UnmarshalBlock reads a redis block at the given nesting: lock_ttl and
// the options of the revocation store's redis (redisconf).
func (rl *RedisLocker) UnmarshalBlock(d *caddyfile.Dispenser, nesting int) error {
	for d.NextBlock(nesting) {
		opt := d.Val()
		if opt == "lock_ttl" {
			dur, err := DurationArg(d)
			if err != nil {
				return err
			}
			rl.LockTTL = dur
			continue
		}
		known, err := rl.UnmarshalOption(d, opt)
		if !known {
			return d.Errf("unknown resumable redis option %q", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// SizeArg reads the one argument of the current option as a byte size
// (like 100MB or 1GiB).
func SizeArg(d *caddyfile.Dispenser) (int64, error) {
	name, v := d.Val(), ""
	if !d.AllArgs(&v) {
		return 0, d.ArgErr()
	}
	n, err := humanize.ParseBytes(v)
	if err != nil || n > math.MaxInt64 {
		return 0, d.Errf("%s %q: not a size (like 100MB or 1GiB)", name, v)
	}
	return int64(n), nil
}

// DurationArg reads the one argument of the current option as a positive
// duration.
func DurationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	name, v := d.Val(), ""
	if !d.AllArgs(&v) {
		return 0, d.ArgErr()
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil || dur <= 0 {
		return 0, d.Errf("%s %q: not a positive duration", name, v)
	}
	return caddy.Duration(dur), nil
}
