package caddymodule

import (
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/logging"
	"go.uber.org/zap/zapcore"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

func init() {
	caddy.RegisterModule(LogFilter{})
}

// LogFilter keeps valet tokens out of logs. Use it on the fields that hold
// a URL: `request>uri valet` and `request>headers>Referer valet`, in the
// access log and in the default log (Caddy's error entries carry the
// request as it arrived, before the gate took the token off).
//
// It fails closed: it replaces with REDACTED the value of every query
// parameter whose decoded name is a token parameter, and every path
// segment or query parameter that holds anything a token could be made
// from once percent-decoded (see token.ContainsToken), however the client
// spelled it; if the whole path or query still does, all of it goes. It
// finds tokens the gate refused as well as those it admitted.
type LogFilter struct {
	// Params are the query parameters that carry tokens, matched after
	// decoding as the gate does. Default: vk.
	Params []string `json:"params,omitempty"`
}

// redacted replaces whatever could hold a token.
const redacted = "REDACTED"

// CaddyModule returns the Caddy module information.
func (LogFilter) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "caddy.logging.encoders.filter.valet",
		New: func() caddy.Module { return new(LogFilter) },
	}
}

// Provision sets the default parameter name.
func (f *LogFilter) Provision(caddy.Context) error {
	if len(f.Params) == 0 {
		f.Params = []string{DefaultParam}
	}
	return nil
}

// UnmarshalCaddyfile reads `valet [{ param <name...> }]`.
func (f *LogFilter) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the filter's name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		if d.Val() != "param" {
			return d.Errf("unknown valet log filter option %q", d.Val())
		}
		names := d.RemainingArgs()
		if len(names) == 0 {
			return d.ArgErr()
		}
		f.Params = append(f.Params, names...)
	}
	return nil
}

// Filter redacts a string field, or each string of an array field (a
// header's values).
func (f LogFilter) Filter(in zapcore.Field) zapcore.Field {
	if values, ok := in.Interface.(caddyhttp.LoggableStringArray); ok {
		out := make(caddyhttp.LoggableStringArray, len(values))
		for i, v := range values {
			out[i] = f.redactURL(v)
		}
		in.Interface = out
		return in
	}
	in.String = f.redactURL(in.String)
	return in
}

// redactURL redacts a request target or a whole URL.
func (f LogFilter) redactURL(s string) string {
	head, query, hasQuery := strings.Cut(s, "?")
	head = redactParts(strings.Split(head, "/"), "/", func(seg string) string {
		if holdsToken(seg) {
			return redacted
		}
		return seg
	})
	if !hasQuery {
		return head
	}
	return head + "?" + redactParts(strings.FieldsFunc(query, isQuerySep), "&", f.redactPair)
}

// redactPair redacts one name=value pair of a query.
func (f LogFilter) redactPair(pair string) string {
	name, value, _ := strings.Cut(pair, "=")
	for _, param := range f.Params {
		is, ok := isTokenParam(name, param)
		if !ok || holdsToken(name) {
			return redacted
		}
		if is && value != "" {
			return name + "=" + redacted
		}
	}
	if holdsToken(value) {
		return name + "=" + redacted
	}
	return pair
}

// redactParts redacts each part, then the whole once more: a token split
// across parts goes too.
func redactParts(parts []string, sep string, redact func(string) string) string {
	for i, p := range parts {
		parts[i] = redact(p)
	}
	joined := strings.Join(parts, sep)
	if holdsToken(joined) {
		return redacted
	}
	return joined
}

func isQuerySep(r rune) bool { return r == '&' || r == ';' }

// holdsToken reports whether text, percent-decoded as often as it decodes
// and stripped of white space and control characters, holds a token.
func holdsToken(text string) bool {
	for range 4 {
		decoded := percentDecode(text)
		if decoded == text {
			break
		}
		text = decoded
	}
	text = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, text)
	return token.ContainsToken(text)
}

// percentDecode decodes every valid %XX escape and leaves the rest as it
// is: a log filter must not give up on a malformed escape.
func percentDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// Interface guards
var (
	_ logging.LogFieldFilter = (*LogFilter)(nil)
	_ caddy.Provisioner      = (*LogFilter)(nil)
	_ caddyfile.Unmarshaler  = (*LogFilter)(nil)
)
