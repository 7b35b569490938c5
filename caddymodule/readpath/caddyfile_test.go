package readpath

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func adapt(t *testing.T, input string) (string, error) {
	t.Helper()
	out, _, err := caddyfile.Adapter{ServerType: httpcaddyfile.ServerType{}}.Adapt([]byte(input), nil)
	return string(out), err
}

// The directive adapts to the documented JSON: file_server's options inline
// beside the cache's own, in file_server's place in the route.
func TestCaddyfileAdaptsToJSON(t *testing.T) {
	out, err := adapt(t, `:8080 {
	root * /srv/nas
	valet_files {
		cache_size 32MiB
		hide .git secret.txt
		max_file_size 256KiB
		index index.htm
		revalidate 500ms
		watch
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"apps":{"http":{"servers":{"srv0":{"listen":[":8080"],"routes":[{"handle":[{"handler":"vars","root":"/srv/nas"},{"cache_size":33554432,"handler":"valet_files","hide":[".git","secret.txt","./Caddyfile"],"index_names":["index.htm"],"max_file_size":262144,"revalidate":500000000,"watch":true}]}]}}}}}`
	if out != want {
		t.Fatalf("adapted JSON differs\n got: %s\nwant: %s", out, want)
	}
}

func TestCaddyfileRefusesBadInput(t *testing.T) {
	for name, body := range map[string]string{
		"size unit":      `cache_size lots`,
		"size arity":     `max_file_size 1MiB 2MiB`,
		"zero size":      `cache_size 0`,
		"symlinks":       `symlinks never`,
		"revalidate":     `revalidate soon`,
		"watch arity":    `watch yes`,
		"file_server's":  `status teapot extra`,
		"unknown option": `color blue`,
	} {
		t.Run(name, func(t *testing.T) {
			if out, err := adapt(t, ":8080 {\n\tvalet_files {\n\t\t"+body+"\n\t}\n}"); err == nil {
				t.Fatalf("adapted without error: %s", out)
			}
		})
	}
}
