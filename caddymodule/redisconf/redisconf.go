// Package redisconf is the one way caddy-valet modules are told how to
// reach Redis: the JSON fields, the Caddyfile options and the client they
// make. The revocation store and the resumable uploads' lock use it.
package redisconf

import (
	"crypto/tls"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/redis/go-redis/v9"
)

// Options say how to reach Redis. One configuration covers a single server,
// Sentinel (MasterName) and Cluster (several addresses, or Cluster).
type Options struct {
	// Addresses are host:port pairs: one server, the Sentinels (with
	// master_name), or Cluster seed nodes. Default: 127.0.0.1:6379.
	Addresses []string `json:"addresses,omitempty"`

	// MasterName selects Sentinel mode: the name of the monitored master.
	MasterName string `json:"master_name,omitempty"`

	// Cluster selects Cluster mode even with a single address.
	Cluster bool `json:"cluster,omitempty"`

	// Username for Redis ACL authentication.
	Username string `json:"username,omitempty"`

	// Password for Redis authentication; placeholders such as {env.X} work.
	Password string `json:"password,omitempty"`

	// DB is the database number (not used by Cluster).
	DB int `json:"db,omitempty"`

	// TLS connects with TLS, verifying the server with the system roots.
	TLS bool `json:"tls,omitempty"`

	// KeyPrefix starts every key and pub/sub channel. Default: the using
	// module's (valet: for revocation).
	KeyPrefix string `json:"key_prefix,omitempty"`

	// DialTimeout bounds connecting. Default: 500ms.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`
}

// Provision fills in defaults and resolves placeholders in the credentials.
func (o *Options) Provision(defaultPrefix string) {
	if len(o.Addresses) == 0 {
		o.Addresses = []string{"127.0.0.1:6379"}
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = defaultPrefix
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = caddy.Duration(500 * time.Millisecond)
	}
	repl := caddy.NewReplacer()
	o.Username = repl.ReplaceKnown(o.Username, "")
	o.Password = repl.ReplaceKnown(o.Password, "")
}

// Universal is the go-redis configuration of the options.
func (o *Options) Universal() *redis.UniversalOptions {
	u := &redis.UniversalOptions{
		Addrs:         o.Addresses,
		MasterName:    o.MasterName,
		IsClusterMode: o.Cluster,
		Username:      o.Username,
		Password:      o.Password,
		DB:            o.DB,
		DialTimeout:   time.Duration(o.DialTimeout),
	}
	if o.TLS {
		u.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return u
}

// UnmarshalOption reads one Caddyfile option (its name is opt, the
// dispenser is at it). known is false for a name that is not a Redis option.
func (o *Options) UnmarshalOption(d *caddyfile.Dispenser, opt string) (known bool, err error) {
	var arg string
	single := map[string]*string{"master_name": &o.MasterName, "username": &o.Username,
		"password": &o.Password, "key_prefix": &o.KeyPrefix, "db": &arg, "dial_timeout": &arg}
	flags := map[string]*bool{"cluster": &o.Cluster, "tls": &o.TLS}
	switch {
	case opt == "addresses":
		if o.Addresses = d.RemainingArgs(); len(o.Addresses) == 0 {
			return true, d.ArgErr()
		}
		return true, nil
	case flags[opt] != nil:
		*flags[opt] = true
		if d.NextArg() {
			return true, d.ArgErr()
		}
		return true, nil
	case single[opt] == nil:
		return false, nil
	case !d.AllArgs(single[opt]):
		return true, d.ArgErr()
	}
	switch opt {
	case "db":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 0 {
			return true, d.Errf("db must be a database number: %q", arg)
		}
		o.DB = n
	case "dial_timeout":
		dur, err := caddy.ParseDuration(arg)
		if err != nil {
			return true, d.Errf("dial_timeout: bad duration %q: %v", arg, err)
		}
		o.DialTimeout = caddy.Duration(dur)
	}
	return true, nil
}
