package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
)

// revocationJSON adapts a gate with the given revocation subdirective and
// returns the JSON of its revocation object.
func revocationJSON(t *testing.T, block string) (string, error) {
	t.Helper()
	out, err := adapt(t, ":8080 {\n\tvalet {\n\t\tkey k1 hs256 secret\n\t\trevocation "+block+"\n\t}\n}")
	if err != nil {
		return "", err
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []map[string]json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatal(err)
	}
	return string(cfg.Apps.HTTP.Servers["srv0"].Routes[0].Handle[0]["revocation"]), nil
}

// Golden Caddyfile-to-JSON tests of the revocation block: the three ways
// the Redis client is chosen (one address, master_name for Sentinel,
// several addresses or cluster for Cluster) and the embedded store.
func TestRevocationCaddyfileAdapts(t *testing.T) {
	for name, tc := range map[string]struct{ block, want string }{
		"cluster": {
			block: `redis {
			cluster
			addresses 10.0.0.1:7000 10.0.0.2:7000 10.0.0.3:7000
			password {env.REDIS_PW}
			wait_replicas 1
			timeout 300ms
			stale_for 5s
		}`,
			want: `{"stale_for":5000000000,"store":{"addresses":["10.0.0.1:7000","10.0.0.2:7000","10.0.0.3:7000"],"backend":"redis","cluster":true,"password":"{env.REDIS_PW}","wait_replicas":1},"timeout":300000000}`,
		},
		"cluster from several addresses": {
			block: "redis {\n\t\t\taddresses 10.0.0.1:7000 10.0.0.2:7000\n\t\t}",
			want:  `{"store":{"addresses":["10.0.0.1:7000","10.0.0.2:7000"],"backend":"redis"}}`,
		},
		"sentinel": {
			block: `redis {
			addresses 10.0.0.1:26379 10.0.0.2:26379
			master_name valet
			key_prefix fleet:
			dial_timeout 1s
			quiet_ttl 2s
			live_ttl 30s
		}`,
			want: `{"live_ttl":30000000000,"quiet_ttl":2000000000,"store":{"addresses":["10.0.0.1:26379","10.0.0.2:26379"],"backend":"redis","dial_timeout":1000000000,"key_prefix":"fleet:","master_name":"valet"}}`,
		},
		"single redis": {
			block: "redis {\n\t\t\taddresses 127.0.0.1:6379\n\t\t\tdb 2\n\t\t\tname fleet\n\t\t\tcache_size 1000\n\t\t}",
			want:  `{"cache_size":1000,"name":"fleet","store":{"addresses":["127.0.0.1:6379"],"backend":"redis","db":2}}`,
		},
		"bolt": {
			block: "{\n\t\t\tpath /var/lib/valet.db\n\t\t\tmax_ttl 2h\n\t\t}",
			want:  `{"max_ttl":7200000000000,"store":{"backend":"bolt","path":"/var/lib/valet.db"}}`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := revocationJSON(t, tc.block)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("adapted JSON differs\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestRevocationCaddyfileRefusesBadInput(t *testing.T) {
	for name, block := range map[string]string{
		"unknown backend":        "memcached",
		"cluster takes no value": "redis {\n\t\t\tcluster yes\n\t\t}",
		"wait_replicas word":     "redis {\n\t\t\twait_replicas all\n\t\t}",
		"wait_replicas negative": "redis {\n\t\t\twait_replicas -1\n\t\t}",
		"redis option on bolt":   "bolt {\n\t\t\tcluster\n\t\t}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := revocationJSON(t, block); err == nil {
				t.Fatalf("%q was accepted", block)
			}
		})
	}
}

// Settings go-redis would silently reinterpret are refused at Validate.
func TestRedisStoreValidate(t *testing.T) {
	for _, tc := range []struct {
		store RedisRevocationStore
		bad   string
	}{
		{RedisRevocationStore{Cluster: true, MasterName: "m"}, "exclude"},
		{RedisRevocationStore{Addresses: []string{"a:1", "b:1"}, DB: 1}, "db 0"},
		{RedisRevocationStore{Cluster: true, DB: 3}, "db 0"},
		{RedisRevocationStore{WaitReplicas: -1}, "negative"},
		{RedisRevocationStore{Addresses: []string{"a:1", "b:1"}, MasterName: "m", DB: 1}, ""},
		{RedisRevocationStore{Addresses: []string{"a:1"}, DB: 1, WaitReplicas: 1}, ""},
	} {
		err := tc.store.Validate()
		if (err == nil) != (tc.bad == "") || (err != nil && !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("%+v: Validate = %v, want an error about %q", tc.store, err, tc.bad)
		}
	}
}
