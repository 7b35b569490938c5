package readpath

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("valet_files", parseCaddyfile)
	// It serves files, so it goes where file_server goes.
	httpcaddyfile.RegisterDirectiveOrder("valet_files", httpcaddyfile.Before, "file_server")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var f Files
	if err := f.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	if err := f.FinalizeUnmarshalCaddyfile(h); err != nil { // hides the Caddyfile, as file_server does
		return nil, err
	}
	return &f, nil
}

// UnmarshalCaddyfile sets up the read path from Caddyfile tokens. It takes
// every file_server subdirective and four of its own:
//
//	valet_files [<matcher>] [browse] {
//	    cache_size    <size>                  (default 64MiB)
//	    max_file_size <size>                  (default 1MiB)
//	    revalidate    <duration>              (default 0: a stat per request)
//	    watch                                 (drop changed files on inotify's notice, no stat)
//	    ... file_server's subdirectives (root, hide, index, browse, ...)
//	}
//
// Sizes take units (64MiB, 512KiB) or a number of bytes.
func (f *Files) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	var rest []caddyfile.Token
	depth := 0 // of braces around the current token
	for d.Next() {
		tok := d.Token()
		if depth == 1 && isOwnOption(tok.Text) && startsLine(d) {
			if err := f.unmarshalOption(d); err != nil {
				return err
			}
			continue
		}
		switch tok.Text {
		case "{":
			depth++
		case "}":
			depth--
		}
		rest = append(rest, tok)
	}
	return f.FileServer.UnmarshalCaddyfile(caddyfile.NewDispenser(rest))
}

func isOwnOption(s string) bool {
	return s == "cache_size" || s == "max_file_size" || s == "revalidate" || s == "watch"
}

// startsLine reports whether the current token is the first on its line.
func startsLine(d *caddyfile.Dispenser) bool {
	if !d.Prev() {
		return true
	}
	prev := d.Token()
	d.Next()
	return prev.Line != d.Token().Line || prev.File != d.Token().File
}

func (f *Files) unmarshalOption(d *caddyfile.Dispenser) error {
	name := d.Val()
	if name == "watch" {
		if d.NextArg() {
			return d.ArgErr()
		}
		f.Watch = true
		return nil
	}
	var arg string
	if !d.Args(&arg) || d.NextArg() {
		return d.ArgErr()
	}
	switch name {
	case "revalidate":
		dur, err := caddy.ParseDuration(arg)
		if err != nil || dur < 0 {
			return d.Errf("revalidate: want a duration like 1s, not %q", arg)
		}
		f.Revalidate = caddy.Duration(dur)
	default:
		n, err := humanize.ParseBytes(arg)
		if err != nil || n == 0 || n > 1<<40 {
			return d.Errf("%s: want a size like 64MiB, not %q", name, arg)
		}
		if name == "cache_size" {
			f.CacheSize = int64(n)
		} else {
			f.MaxFileSize = int64(n)
		}
	}
	return nil
}
