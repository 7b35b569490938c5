package caddymodule

// Sub-packages that register Caddy modules of their own.
import (
	_ "github.com/valetkey/caddy-valet/caddymodule/readpath"
	_ "github.com/valetkey/caddy-valet/caddymodule/s3"
)
