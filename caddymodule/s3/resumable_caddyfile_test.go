package s3

import (
	"strings"
	"testing"

	"github.com/valetkey/caddy-valet/internal/testenv"
)

// The Caddyfile adapts to the documented JSON, and the handler lands after
// basic_auth (so after the gate, which orders itself before basic_auth;
// integration tests check that with valet itself) and before reverse_proxy
// wherever it is written.
func TestResumableCaddyfileAdaptsToJSON(t *testing.T) {
	out, err := testenv.Adapt(t, `:8080 {
	reverse_proxy 127.0.0.1:7070 {
		transport s3 {
			bucket photos
		}
	}
	valet_s3_resumable {
		bucket photos
		region eu-west-1
		endpoint http://127.0.0.1:7070
		addressing virtual
		prefix tenants/a
		access_key_id {env.S3_KEY}
		secret_access_key {file./run/secrets/s3}
		session_token {env.S3_SESSION}
		expire 6h
		max_bytes 1GiB
		temp_dir /var/lib/valet-tus-s3
		redis {
			addresses 10.0.0.5:6379
			key_prefix files:tus:
			lock_ttl 20s
		}
	}
	basic_auth {
		u $2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"access_key_id":"{env.S3_KEY}","addressing":"virtual","bucket":"photos","endpoint":"http://127.0.0.1:7070","expire":21600000000000,"handler":"valet_s3_resumable","max_bytes":1073741824,"prefix":"tenants/a","redis":{"addresses":["10.0.0.5:6379"],"key_prefix":"files:tus:","lock_ttl":20000000000},"region":"eu-west-1","secret_access_key":"{file./run/secrets/s3}","session_token":"{env.S3_SESSION}","temp_dir":"/var/lib/valet-tus-s3"}`
	if !strings.Contains(out, want) {
		t.Fatalf("adapted JSON lacks\n%s\nin\n%s", want, out)
	}
	gate, tus, proxy := strings.Index(out, `"handler":"authentication"`), strings.Index(out, `"handler":"valet_s3_resumable"`), strings.Index(out, `"handler":"reverse_proxy"`)
	if gate < 0 || !(gate < tus && tus < proxy) {
		t.Fatalf("order: basic_auth at %d, valet_s3_resumable at %d, reverse_proxy at %d", gate, tus, proxy)
	}
}

func TestResumableCaddyfileRefusesMistakes(t *testing.T) {
	for _, body := range []string{
		"valet_s3_resumable extra {\n}",
		"valet_s3_resumable {\n\t\tbucket a b\n\t}",
		"valet_s3_resumable {\n\t\tbucket a\n\t\tbucket b\n\t}",
		"valet_s3_resumable {\n\t\tacl public-read\n\t}",
		"valet_s3_resumable {\n\t\texpire soon\n\t}",
		"valet_s3_resumable {\n\t\tmax_bytes lots\n\t}",
		"valet_s3_resumable {\n\t\tredis {\n\t\t\tcolor blue\n\t\t}\n\t}",
	} {
		if _, err := testenv.Adapt(t, ":8080 {\n\t"+body+"\n}"); err == nil {
			t.Errorf("%q accepted", body)
		}
	}
}

func TestResumableValidate(t *testing.T) {
	for _, h := range []Resumable{
		{Access: Access{Bucket: "ab"}},
		{Access: Access{Bucket: "photos", Addressing: "dns"}},
		{Access: Access{Bucket: "photos"}, Endpoint: "127.0.0.1:7070"},
		{Access: Access{Bucket: "photos"}, Endpoint: "http://127.0.0.1:7070/base"},
		{Access: Access{Bucket: "photos", Prefix: "a/../b"}},
		{Access: Access{Bucket: "photos"}, Expire: -1},
	} {
		if err := h.Validate(); err == nil {
			t.Errorf("%+v validated", h)
		}
	}
	ok := Resumable{Access: Access{Bucket: "photos", Prefix: "a/b"}, Endpoint: "https://s3.eu-west-1.amazonaws.com"}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}

// The key layout: tusd's final object maps to the destination, nothing
// else does; state keys never fall under the objects marker.
func TestTusKeysMapOnlyTheObject(t *testing.T) {
	k := tusKeys{prefix: "store/"}
	id := k.objectID("jti-1", "a/b c.bin")
	if dest, ok := k.destination(k.objects() + id); !ok || dest != "store/a/b c.bin" {
		t.Fatalf("object %q maps to %q %v", id, dest, ok)
	}
	for _, key := range []string{k.info(id), k.state() + id + ".part", "store/a/b c.bin", k.objects(), k.objects() + "hash", "other/.valet-tus/objects/h/x"} {
		if dest, ok := k.destination(key); ok {
			t.Errorf("%q maps to %q", key, dest)
		}
	}
	if obj, mp := splitID(id + "+up.load-1"); obj != id || mp != "up.load-1" {
		t.Errorf("splitID: %q %q", obj, mp)
	}
}
