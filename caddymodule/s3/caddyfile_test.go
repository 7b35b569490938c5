package s3

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestCaddyfileAdaptsToTheTransport(t *testing.T) {
	input := `:8080 {
	reverse_proxy https://s3.eu-west-1.amazonaws.com {
		transport s3 {
			bucket photos
			region eu-west-1
			endpoint s3.eu-west-1.amazonaws.com
			addressing virtual
			prefix tenants/a
			access_key_id {env.S3_KEY}
			secret_access_key {file./run/secrets/s3}
			listing
			http {
				dial_timeout 3s
			}
		}
	}
}`
	adapter := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}
	out, _, err := adapter.Adapt(caddyfile.Format([]byte(input)), nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []struct {
							Transport json.RawMessage `json:"transport"`
						} `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	got := string(cfg.Apps.HTTP.Servers["srv0"].Routes[0].Handle[0].Transport)
	for _, want := range []string{
		`"protocol":"s3"`, `"bucket":"photos"`, `"region":"eu-west-1"`, `"addressing":"virtual"`,
		`"prefix":"tenants/a"`, `"access_key_id":"{env.S3_KEY}"`, `"secret_access_key":"{file./run/secrets/s3}"`,
		`"listing":true`, `"endpoint":"s3.eu-west-1.amazonaws.com"`, `"tls":{}`, `"dial_timeout":3000000000`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("transport JSON lacks %s:\n%s", want, got)
		}
	}
}

func TestCaddyfileRefusesMistakes(t *testing.T) {
	for _, input := range []string{
		"s3 extra",
		"s3 {\n bucket a b\n}",
		"s3 {\n bucket a\n bucket b\n}",
		"s3 {\n acl public-read\n}",
		"s3 {\n listing yes\n}",
	} {
		var tr Transport
		if err := tr.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input)); err == nil {
			t.Errorf("%q accepted", input)
		}
	}
}

func TestValidateRefusesBadConfig(t *testing.T) {
	for _, tr := range []Transport{
		{Access: Access{Bucket: "ab"}},
		{Access: Access{Bucket: "Photos"}},
		{Access: Access{Bucket: "-photos"}},
		{Access: Access{Bucket: "photos", Addressing: "dns"}},
		{Access: Access{Bucket: "photos"}, Endpoint: "https://s3.example"},
		{Access: Access{Bucket: "photos", Prefix: "a/../b/"}},
		{Access: Access{Bucket: "photos", Prefix: "a//b/"}},
	} {
		if err := tr.Validate(); err == nil {
			t.Errorf("%+v accepted", tr)
		}
	}
	ok := Transport{Access: Access{Bucket: "photos", Prefix: "tenants/a/", Addressing: "virtual"}, Endpoint: "s3.example:9000"}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
}
