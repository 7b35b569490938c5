package caddymodule

import (
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// unmarshalRevocation parses the gate's revocation subdirective:
//
//	revocation [bolt|redis] {
//	    name        <name>
//	    quiet_ttl   <duration>
//	    live_ttl    <duration>
//	    stale_for   <duration>
//	    timeout     <duration>
//	    max_ttl     <duration>
//	    cache_size  <entries>
//
//	    path        <file>              # bolt
//
//	    addresses   <host:port...>      # redis
//	    master_name <name>
//	    cluster
//	    username    <user>
//	    password    <password>
//	    db          <n>
//	    tls
//	    key_prefix  <prefix>
//	    dial_timeout <duration>
//	    wait_replicas <n>
//	}
func unmarshalRevocation(d *caddyfile.Dispenser) (*Revocation, error) {
	backend := "bolt"
	if d.NextArg() {
		backend = d.Val()
	}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	rv := new(Revocation)
	var (
		bolt  BoltRevocationStore
		rstor RedisRevocationStore
		store any
	)
	switch backend {
	case "bolt":
		store = &bolt
	case "redis":
		store = &rstor
	default:
		return nil, d.Errf("revocation store must be bolt or redis, not %q", backend)
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		switch opt {
		case "name":
			err = oneArg(d, &rv.Name)
		case "quiet_ttl":
			rv.QuietTTL, err = durationArg(d)
		case "live_ttl":
			rv.LiveTTL, err = durationArg(d)
		case "stale_for":
			rv.StaleFor, err = durationArg(d)
		case "timeout":
			rv.Timeout, err = durationArg(d)
		case "max_ttl":
			rv.MaxTTL, err = durationArg(d)
		case "cache_size":
			var s string
			if err = oneArg(d, &s); err == nil {
				if rv.CacheSize, err = strconv.ParseInt(s, 10, 64); err != nil || rv.CacheSize < 1 {
					err = d.Errf("cache_size must be a positive number of entries: %q", s)
				}
			}
		default:
			if store == &bolt {
				err = bolt.unmarshalOption(d, opt)
			} else {
				err = rstor.unmarshalOption(d, opt)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	rv.StoreRaw = caddyconfig.JSONModuleObject(store, "backend", backend, nil)
	return rv, nil
}

func (b *BoltRevocationStore) unmarshalOption(d *caddyfile.Dispenser, opt string) error {
	if opt != "path" {
		return d.Errf("unknown bolt revocation option %q", opt)
	}
	return oneArg(d, &b.Path)
}

func (r *RedisRevocationStore) unmarshalOption(d *caddyfile.Dispenser, opt string) error {
	switch opt {
	case "addresses":
		r.Addresses = d.RemainingArgs()
		if len(r.Addresses) == 0 {
			return d.ArgErr()
		}
	case "master_name":
		return oneArg(d, &r.MasterName)
	case "cluster":
		r.Cluster = true
		return noArgs(d)
	case "tls":
		r.TLS = true
		return noArgs(d)
	case "username":
		return oneArg(d, &r.Username)
	case "password":
		return oneArg(d, &r.Password)
	case "key_prefix":
		return oneArg(d, &r.KeyPrefix)
	case "db":
		return countArg(d, "db must be a database number", &r.DB)
	case "wait_replicas":
		return countArg(d, "wait_replicas must be a number of replicas", &r.WaitReplicas)
	case "dial_timeout":
		dur, err := durationArg(d)
		r.DialTimeout = dur
		return err
	default:
		return d.Errf("unknown redis revocation option %q", opt)
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	if !d.AllArgs(dst) {
		return d.ArgErr()
	}
	return nil
}

// countArg reads one non-negative integer.
func countArg(d *caddyfile.Dispenser, what string, dst *int) error {
	var s string
	if err := oneArg(d, &s); err != nil {
		return err
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return d.Errf("%s: %q", what, s)
	}
	*dst = n
	return nil
}

func noArgs(d *caddyfile.Dispenser) error {
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}
