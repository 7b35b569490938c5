package valetstore

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// The Caddyfile adapts to the JSON documented for valet_store, resumable
// uploads included, and the store lands before file_server.
func TestCaddyfileAdaptsToJSON(t *testing.T) {
	out, err := testenv.Adapt(t, `:8080 {
	file_server
	valet_store * /srv/nas {
		max_bytes 1GiB
		content_types video/mp4 image/png
		no_overwrite
		form_field upload
		resumable {
			dir /var/lib/valet-tus
			expire 6h
			redis {
				addresses 10.0.0.5:6379 10.0.0.6:6379
				password {env.REDIS_PASSWORD}
				key_prefix files:tus:
				lock_ttl 20s
			}
		}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apps":{"http":{"servers":{"srv0":{"listen":[":8080"],"routes":[{"handle":[{"content_types":["video/mp4","image/png"],"form_field":"upload","handler":"valet_store","max_bytes":1073741824,"no_overwrite":true,"resumable":{"dir":"/var/lib/valet-tus","expire":21600000000000,"redis":{"addresses":["10.0.0.5:6379","10.0.0.6:6379"],"key_prefix":"files:tus:","lock_ttl":20000000000,"password":"{env.REDIS_PASSWORD}"}},"root":"/srv/nas"},{"handler":"file_server","hide":["./Caddyfile"]}]}]}}}}}`
	if out != want {
		t.Fatalf("adapted JSON differs\n got: %s\nwant: %s", out, want)
	}
	out, err = testenv.Adapt(t, ":8080 {\n\tvalet_store * /srv/nas {\n\t\tresumable\n\t}\n}")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"handler":"valet_store","resumable":{},"root":"/srv/nas"}`; !strings.Contains(out, want) {
		t.Fatalf("resumable with defaults: %s", out)
	}
}

func TestCaddyfileRefusesBadResumable(t *testing.T) {
	for name, body := range map[string]string{
		"argument":        "resumable yes",
		"unknown option":  "resumable {\n\t\t\tcolor blue\n\t\t}",
		"bad expire":      "resumable {\n\t\t\texpire soon\n\t\t}",
		"negative expire": "resumable {\n\t\t\texpire -1h\n\t\t}",
		"dir arity":       "resumable {\n\t\t\tdir\n\t\t}",
		"redis option":    "resumable {\n\t\t\tredis {\n\t\t\t\tcolor blue\n\t\t\t}\n\t\t}",
		"redis lock_ttl":  "resumable {\n\t\t\tredis {\n\t\t\t\tlock_ttl 0s\n\t\t\t}\n\t\t}",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := testenv.Adapt(t, ":8080 {\n\tvalet_store * /srv {\n\t\t"+body+"\n\t}\n}"); err == nil {
				t.Fatalf("%q was accepted", body)
			}
		})
	}
}

func TestResumableJSONUnmarshals(t *testing.T) {
	var s Store
	if err := json.Unmarshal([]byte(`{"root":"/srv","resumable":{"dir":"/tmp/u","expire":"90m"}}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.Resumable == nil || s.Resumable.Dir != "/tmp/u" || s.Resumable.Expire != caddy.Duration(90*time.Minute) {
		t.Fatalf("unmarshalled %+v", s.Resumable)
	}
}
