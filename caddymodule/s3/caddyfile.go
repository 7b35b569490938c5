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
		var target *string
		switch name {
		case "bucket":
			target = &t.Bucket
		case "region":
			target = &t.Region
		case "endpoint":
			target = &t.Endpoint
		case "addressing":
			target = &t.Addressing
		case "prefix":
			target = &t.Prefix
		case "access_key_id":
			target = &t.AccessKeyID
		case "secret_access_key":
			target = &t.SecretAccessKey
		case "session_token":
			target = &t.SessionToken
		case "listing":
			if d.NextArg() {
				return d.ArgErr()
			}
			t.Listing = true
			continue
		case "http":
			ht := new(reverseproxy.HTTPTransport)
			if err := ht.UnmarshalCaddyfile(d.NewFromNextSegment()); err != nil {
				return err
			}
			t.HTTP = ht
			continue
		default:
			return d.Errf("unrecognized s3 transport option '%s'", name)
		}
		if *target != "" {
			return d.Errf("s3 transport option '%s' given twice", name)
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		*target = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

var _ caddyfile.Unmarshaler = (*Transport)(nil)
