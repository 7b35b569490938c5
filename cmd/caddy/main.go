// Command caddy is Caddy with its standard modules and caddy-valet's, the
// same binary an xcaddy build with --with .../caddymodule produces.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/valetkey/caddy-valet/caddymodule"
)

func main() {
	caddycmd.Main()
}
