package s3

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// UnmarshalCaddyfile sets up the transport from Caddyfile tokens:
//
//	transport s3 {
//	    bucket            <name>
//	    region            <region>
//	    endpoint          <host[:port]>
//	    addressing        path|virtual
//	    prefix            <key prefix>
//	    access_key_id     <id or placeholder>
//	    secret_access_key <secret or placeholder>
//	    session_token     <token or placeholder>
//	    listing
//	    http {
//	        <reverse_proxy http transport options>
//	    }
//	}
func (t *Transport) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume transport name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		name := d.Val()
		switch target := t.Access.option(name); {
		case target != nil:
			if err := stringOption(d, "s3 transport", name, target); err != nil {
				return err
			}
		case name == "endpoint":
			if err := stringOption(d, "s3 transport", name, &t.Endpoint); err != nil {
				return err
			}
		case name == "listing":
			if d.NextArg() {
				return d.ArgErr()
			}
			t.Listing = true
		case name == "http":
			ht := new(reverseproxy.HTTPTransport)
			if err := ht.UnmarshalCaddyfile(d.NewFromNextSegment()); err != nil {
				return err
			}
			t.HTTP = ht
		default:
			return d.Errf("unrecognized s3 transport option '%s'", name)
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Transport)(nil)
