package caddymodule

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Exit statuses of `caddy valet inspect`, so scripts can tell a refusal from
// a mistake. 1 is any error (bad flags, unreadable key).
const (
	exitDenied     = 2 // the token was checked and refused
	exitUnverified = 3 // decoded only: no key was given, nothing was checked
)

// inspectLeeway is the clock skew inspect allows, a gateway's usual setting.
const inspectLeeway = 30 * time.Second

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "valet",
		Usage: "keygen|sign|inspect [flags]",
		Short: "Makes valet keys, signs valet tokens and inspects them",
		Long: `
Tools for valet tokens (docs/token.md is the format).

  caddy valet keygen --alg hs256|eddsa --out FILE
  caddy valet sign --key FILE --kid ID --path P --methods GET --ttl 10m [--url URL]
  caddy valet inspect --token T [--key FILE --kid ID] [--method M --path P]

Run "caddy valet <command> --help" for the flags of each.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(keygenCommand(), signCommand(), inspectCommand(), RevokeCommand())
		},
	})
}

// run adapts a subcommand to Caddy's exit-status convention. A refusal is
// an exit status with nothing more to say, so cobra must not print it again.
func run(f func(cmd *cobra.Command) (int, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) {
			status, err := f(cmd)
			if err == nil && status > 1 {
				cmd.SilenceErrors = true
			}
			return status, err
		})(cmd, args)
	}
}

func keygenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keygen --alg hs256|eddsa --out FILE",
		Short: "Writes a new HS256 secret or Ed25519 key pair",
		Long: `
Writes a new key to FILE with mode 0600, refusing to overwrite.

--alg hs256 writes a 256-bit secret as base64url text: give the same file to
the minting application and to the gateway.

--alg eddsa writes an Ed25519 private key (PKCS #8 PEM) to FILE, for the
minting application only, and the public key (PKIX PEM) to FILE.pub, for
the gateway.
`,
		Args: cobra.NoArgs,
		RunE: run(keygen),
	}
	cmd.Flags().String("alg", "", "Key algorithm: hs256 or eddsa")
	cmd.Flags().String("out", "", "File to write the secret or private key to")
	return cmd
}

func keygen(cmd *cobra.Command) (int, error) {
	alg, _ := cmd.Flags().GetString("alg")
	out, _ := cmd.Flags().GetString("out")
	if out == "" {
		return 1, errors.New("--out is required")
	}
	switch strings.ToLower(alg) {
	case "hs256":
		if err := writeNew(out, 0o600, []byte(token.NewHMACSecret()+"\n")); err != nil {
			return 1, err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "wrote an HS256 secret to %s\n", out)
	case "eddsa":
		private, public, err := token.NewEd25519PEM()
		if err != nil {
			return 1, fmt.Errorf("generating Ed25519 key: %w", err)
		}
		if err := writeNew(out+".pub", 0o644, public); err != nil {
			return 1, err
		}
		if err := writeNew(out, 0o600, private); err != nil {
			os.Remove(out + ".pub") // nothing half-done
			return 1, err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "wrote an Ed25519 private key to %s (for the minting application) and its public key to %s.pub (for the gateway)\n", out, out)
	default:
		return 1, fmt.Errorf("--alg must be hs256 or eddsa, got %q", alg)
	}
	return 0, nil
}

// writeNew writes a file that must not exist yet.
func writeNew(path string, mode os.FileMode, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("creating key file (existing files are never overwritten): %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func signCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign --key FILE --kid ID --path P [--path P2 ...] --methods GET,PUT --ttl 10m [flags]",
		Short: "Signs a valet token",
		Long: `
Signs a valet token with the key in FILE (an HS256 secret or an Ed25519
private key PEM, told apart by their form) and prints it, or, with --url,
prints the URL with the token added as query parameter vk (--param to
rename it). Existing query parameters are kept. With --url and
--path-marker M, the token goes into the path instead, as the gate's
path_marker M expects: https://host/M/<token>/photos/alice/video/index.m3u8,
so relative links in what is served carry it too.

A --path ending in / grants the subtree below it, any other path exactly
that file. Paths are given decoded ("/photos/my cat.jpg").
`,
		Args: cobra.NoArgs,
		RunE: run(sign),
	}
	f := cmd.Flags()
	f.String("key", "", "File holding the signing key")
	f.String("kid", "", "Key id, as the gateway names the key")
	f.StringArray("path", nil, "Path scope (repeatable)")
	f.String("methods", "GET", "Comma-separated methods: GET, HEAD, PUT, POST, PATCH, DELETE")
	f.Duration("ttl", 10*time.Minute, "Lifetime of the token")
	f.String("nbf", "", "Not before: an RFC 3339 time or a duration from now")
	f.String("aud", "", "Audience: the gateway's name")
	f.StringArray("ip", nil, "Client address prefix, CIDR (repeatable)")
	f.Bool("https-only", false, "Refuse requests that did not come over TLS")
	f.Int64("max-bytes", 0, "Largest upload body, in bytes")
	f.StringArray("content-type", nil, "Media type an upload may declare (repeatable)")
	f.Bool("overwrite", false, "Let an upload replace an existing file")
	f.String("group", "", "Revocation group")
	f.Int64("uses", 0, "Most requests the token may make")
	f.String("id", "", "Token id (jti); random when empty")
	f.StringArray("origin", nil, "Browser origin allowed to use the token (repeatable)")
	f.String("disposition", "", "Content-Disposition of a download")
	f.String("url", "", "Print this URL with the token added")
	f.String("param", "vk", "Query parameter for --url")
	f.String("path-marker", "", "With --url: put the token in the path after this segment (the gate's path_marker)")
	return cmd
}

func sign(cmd *cobra.Command) (int, error) {
	f := cmd.Flags()
	keyFile, _ := f.GetString("key")
	kid, _ := f.GetString("kid")
	if keyFile == "" || kid == "" {
		return 1, errors.New("--key and --kid are required")
	}
	k, err := loadKey(keyFile, kid)
	if err != nil {
		return 1, err
	}

	now := time.Now()
	ttl, _ := f.GetDuration("ttl")
	if ttl <= 0 {
		return 1, fmt.Errorf("--ttl must be positive, got %s", ttl)
	}
	c := &token.Claims{}
	c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	if s, _ := f.GetString("nbf"); s != "" {
		nbf, err := parseTime(s, now)
		if err != nil {
			return 1, err
		}
		if !nbf.Before(c.ExpiresAt.Time) {
			return 1, fmt.Errorf("--nbf %s is not before the expiry %s: raise --ttl", nbf.Format(time.RFC3339), c.ExpiresAt.Format(time.RFC3339))
		}
		c.NotBefore = jwt.NewNumericDate(nbf)
	}
	if aud, _ := f.GetString("aud"); aud != "" {
		c.Audience = jwt.ClaimStrings{aud}
	}
	c.ID, _ = f.GetString("id")
	c.Paths, _ = f.GetStringArray("path")
	methods, _ := f.GetString("methods")
	for _, m := range strings.Split(methods, ",") {
		if m = strings.ToUpper(strings.TrimSpace(m)); m != "" {
			c.Methods = append(c.Methods, m)
		}
	}
	c.IPs, _ = f.GetStringArray("ip")
	c.HTTPSOnly, _ = f.GetBool("https-only")
	c.MaxBytes, _ = f.GetInt64("max-bytes")
	c.ContentTypes, _ = f.GetStringArray("content-type")
	c.Overwrite, _ = f.GetBool("overwrite")
	c.Group, _ = f.GetString("group")
	c.Uses, _ = f.GetInt64("uses")
	c.Origins, _ = f.GetStringArray("origin")
	if d, _ := f.GetString("disposition"); d != "" {
		c.Response = &token.ResponseOverrides{ContentDisposition: d}
	}

	raw, err := token.Mint(c, k)
	if err != nil {
		return 1, err
	}
	out := raw
	if u, _ := f.GetString("url"); u != "" {
		param, _ := f.GetString("param")
		marker, _ := f.GetString("path-marker")
		if marker != "" {
			out, err = withPathToken(u, marker, raw)
		} else {
			out, err = withToken(u, param, raw)
		}
		if err != nil {
			return 1, err
		}
	} else if marker, _ := f.GetString("path-marker"); marker != "" {
		return 1, errors.New("--path-marker needs --url")
	}
	fmt.Fprintln(cmd.OutOrStdout(), out)
	return 0, nil
}

// loadKey reads a key file as keygen writes it; the form tells the algorithm.
func loadKey(file, kid string) (*token.Key, error) {
	material, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	k, err := token.ParseKey(kid, token.DetectAlg(material), material)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", file, err)
	}
	return k, nil
}

// parseTime reads an RFC 3339 time or a duration from now.
func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--nbf %q is neither an RFC 3339 time nor a duration", s)
	}
	return now.Add(d), nil
}

// withToken adds the token to a URL as one more query parameter, leaving
// the existing query exactly as it was written.
func withToken(raw, param, tok string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("--url: %w", err)
	}
	if param == "" {
		return "", errors.New("--param must not be empty")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("--url query: %w", err)
	}
	if q.Has(param) {
		// A gateway refuses a repeated token parameter (duplicate_token).
		return "", fmt.Errorf("--url already has a %q query parameter", param)
	}
	if u.RawQuery != "" {
		u.RawQuery += "&"
	}
	u.RawQuery += url.QueryEscape(param) + "=" + tok
	return u.String(), nil
}

// withPathToken puts the token into a URL's path after the marker
// segment: /<marker>/<token>/<the URL's path>.
func withPathToken(raw, marker, tok string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("--url: %w", err)
	}
	if marker == "" || strings.ContainsAny(marker, "/?#%") || marker == "." || marker == ".." {
		return "", fmt.Errorf("--path-marker %q must be one plain path segment, like ~vk", marker)
	}
	path := u.EscapedPath()
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u.RawPath = "/" + marker + "/" + tok + path
	if u.Path, err = url.PathUnescape(u.RawPath); err != nil {
		return "", fmt.Errorf("--url path: %w", err)
	}
	return u.String(), nil
}

func inspectCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "inspect --token T [--key FILE --kid ID] [--method M --path P]",
		Short: "Decodes a valet token, verifies it and judges a request",
		Long: `
Prints the token's header and claims as JSON. With --key and --kid it also
verifies the token as a gateway would (30 s leeway; --aud when the gateway
has an audience), and with --path it judges a request for that path
(escaped, as sent; --method defaults to GET; --ip and --https describe the
client). Then it prints "decision: allow" or "decision: deny <reason>".

Exit status: 0 allowed; 1 error (bad flags, unreadable key);
2 denied; 3 decoded only, because without --key nothing was verified.
`,
		Args: cobra.NoArgs,
		RunE: run(inspect),
	}
	f := cmd.Flags()
	f.String("token", "", "The token")
	f.String("key", "", "File holding the verification key (secret, public or private PEM)")
	f.String("kid", "", "Key id the gateway gives that key")
	f.String("aud", "", "The gateway's audience, if it has one")
	f.String("method", "", "Request method to judge (default GET when --path is given)")
	f.String("path", "", "Escaped request path to judge")
	f.String("ip", "", "Client IP address of the request")
	f.Bool("https", false, "The request came over TLS")
	return cmd
}

func inspect(cmd *cobra.Command) (int, error) {
	f := cmd.Flags()
	raw, _ := f.GetString("token")
	keyFile, _ := f.GetString("key")
	kid, _ := f.GetString("kid")
	method, _ := f.GetString("method")
	path, _ := f.GetString("path")
	ipText, _ := f.GetString("ip")
	if raw == "" {
		return 1, errors.New("--token is required")
	}
	if (keyFile == "") != (kid == "") {
		return 1, errors.New("--key and --kid go together")
	}
	if path == "" && (method != "" || ipText != "") {
		return 1, errors.New("--method and --ip judge a request: give its --path too")
	}
	if method == "" {
		method = "GET"
	}
	var ip netip.Addr
	if ipText != "" {
		var err error
		if ip, err = netip.ParseAddr(ipText); err != nil {
			return 1, fmt.Errorf("--ip: %w", err)
		}
	}

	out := cmd.OutOrStdout()
	decoded, err := decodeJWS(raw)
	if err != nil {
		fmt.Fprintf(out, "cannot decode: %v\n", err)
	} else {
		out.Write(decoded)
	}
	if keyFile == "" {
		fmt.Fprintln(out, "decision: none (decoded only: give --key and --kid to verify)")
		return exitUnverified, nil
	}
	k, err := loadKey(keyFile, kid)
	if err != nil {
		return 1, err
	}
	keys, err := token.NewKeySet(k)
	if err != nil {
		return 1, err
	}
	aud, _ := f.GetString("aud")
	v := token.Verifier{Keys: keys, Audience: aud, Leeway: inspectLeeway}

	https, _ := f.GetBool("https")
	reason := judge(v, raw, path, token.Request{Method: method, ClientIP: ip, HTTPS: https})
	if reason != token.Allowed {
		fmt.Fprintf(out, "decision: deny %s\n", reason)
		return exitDenied, nil
	}
	fmt.Fprintln(out, "decision: allow")
	return 0, nil
}

// judge decides in the gateway's order: the path, the token, the request.
// Without a path only the token is judged.
func judge(v token.Verifier, raw, escapedPath string, req token.Request) token.Reason {
	if escapedPath != "" {
		p, reason := token.CanonicalPath(escapedPath)
		if reason != token.Allowed {
			return reason
		}
		req.Path = p
	}
	c, reason := v.Verify(raw, time.Now())
	if reason != token.Allowed || escapedPath == "" {
		return reason
	}
	return c.Allows(req)
}

// decodeJWS pretty-prints a compact JWS's header and payload, unverified.
func decodeJWS(raw string) ([]byte, error) {
	var doc struct {
		Header json.RawMessage `json:"header"`
		Claims json.RawMessage `json:"claims"`
	}
	var err error
	if doc.Header, doc.Claims, err = splitJWS(raw); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// splitJWS decodes a compact JWS's header and payload, each JSON, without
// verifying anything.
func splitJWS(raw string) (header, payload []byte, err error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, nil, fmt.Errorf("a token has 3 dot-separated parts, this one %d", len(parts))
	}
	for i, dst := range []*[]byte{&header, &payload} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, nil, fmt.Errorf("part %d: %w", i+1, err)
		}
		if !json.Valid(b) {
			return nil, nil, fmt.Errorf("part %d is not JSON", i+1)
		}
		*dst = b
	}
	return header, payload, nil
}
