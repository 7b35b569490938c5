package caddymodule

// The write handler lives in its own package; importing it here registers
// http.handlers.valet_store with everything else caddy-valet provides.
import _ "github.com/valetkey/caddy-valet/caddymodule/valetstore"
