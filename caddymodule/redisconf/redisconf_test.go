package redisconf

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func parse(t *testing.T, block string) (Options, error) {
	t.Helper()
	d := caddyfile.NewTestDispenser("redis {\n" + block + "\n}")
	var o Options
	d.Next()
	for d.NextBlock(0) {
		known, err := o.UnmarshalOption(d, d.Val())
		if !known {
			return o, d.Errf("unknown %q", d.Val())
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

func TestUnmarshalOptions(t *testing.T) {
	o, err := parse(t, `addresses a:1 b:2
master_name m
cluster
tls
username u
password {env.P}
key_prefix k:
db 3
dial_timeout 2s`)
	if err != nil {
		t.Fatal(err)
	}
	want := Options{Addresses: []string{"a:1", "b:2"}, MasterName: "m", Cluster: true, TLS: true, Username: "u",
		Password: "{env.P}", KeyPrefix: "k:", DB: 3, DialTimeout: caddy.Duration(2 * time.Second)}
	if o.MasterName != want.MasterName || !o.Cluster || !o.TLS || o.Username != "u" || o.Password != want.Password ||
		o.KeyPrefix != "k:" || o.DB != 3 || o.DialTimeout != want.DialTimeout || len(o.Addresses) != 2 {
		t.Fatalf("got %+v", o)
	}
	for _, bad := range []string{"addresses", "cluster yes", "db -1", "db x", "dial_timeout soon", "username", "password a b", "color blue"} {
		if _, err := parse(t, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestProvisionDefaults(t *testing.T) {
	o := Options{}
	o.Provision("p:")
	if len(o.Addresses) != 1 || o.Addresses[0] != "127.0.0.1:6379" || o.KeyPrefix != "p:" || o.DialTimeout != caddy.Duration(500*time.Millisecond) {
		t.Fatalf("defaults %+v", o)
	}
	if u := o.Universal(); u.DialTimeout != 500*time.Millisecond || u.Addrs[0] != "127.0.0.1:6379" {
		t.Fatalf("universal %+v", u)
	}
}
