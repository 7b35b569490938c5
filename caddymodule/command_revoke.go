package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/valetkey/caddy-valet/caddymodule/revocation"
)

// RevokeCommand is `caddy valet revoke`: it talks to the valet admin API
// of a running Caddy (admin.api.valet), found like `caddy reload` finds it.
// The `caddy valet` command adds it as a subcommand.
func RevokeCommand() *cobra.Command {
	var (
		address, configFile, adapter, name string
		before, expires                    string
		list, remove                       bool
		cmd                                *cobra.Command
	)
	cmd = &cobra.Command{
		Use:   "revoke (--jti ID | --token T | --group G | --kid K | --aud A) [--before T] [--expires T] | --list | --remove ...",
		Short: "Revokes valet tokens through a running Caddy's admin API",
		Long: `
Revokes valet tokens in the revocation list of a running Caddy, through its
admin API (the address is found like "caddy reload" finds it).

  caddy valet revoke --jti ID               one token
  caddy valet revoke --token T              one token: the jti read from T
  caddy valet revoke --group G              every token with grp G
  caddy valet revoke --kid K [--before T]   every token key K verified, issued
                                            at or before T (default: now)
  caddy valet revoke --aud A [--before T]   likewise for an audience
  caddy valet revoke --list                 the active revocations, as JSON
  caddy valet revoke --remove --jti ID      delete one entry (or --token T, ...)

--token decodes the token's payload to take its jti and does NOT verify the
token: any text shaped like a token names a jti. A jti must be 16 to 128
printable characters and a group printable (docs/token.md), and no value
may be spelled like one of these flags ("--jti --remove" is a mistake, not
a jti): anything else is refused before the gateway is asked.

--expires sets when the entry disappears (default: now, or the cutoff, plus
the gateway's max_ttl). Times are RFC 3339. --name picks the revocation list.
`,
		Args: cobra.NoArgs,
		RunE: caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) {
			admin, err := caddycmd.DetermineAdminAPIAddress(address, nil, configFile, adapter)
			if err != nil {
				return caddy1, fmt.Errorf("finding the admin API: %w", err)
			}
			q := url.Values{}
			if name != "" {
				q.Set("name", name)
			}
			if list {
				return adminCall(admin, http.MethodGet, q, nil)
			}
			sub, err := revokeSubject(cmd)
			if err != nil {
				return caddy1, err
			}
			if remove {
				q.Set("kind", string(sub.Kind))
				q.Set("id", sub.ID)
				return adminCall(admin, http.MethodDelete, q, nil)
			}
			e := revocation.Entry{Subject: sub}
			for flag, dst := range map[string]*time.Time{before: &e.Before, expires: &e.Expires} {
				if flag == "" {
					continue
				}
				if *dst, err = time.Parse(time.RFC3339, flag); err != nil {
					return caddy1, fmt.Errorf("bad time %q (use RFC 3339): %w", flag, err)
				}
			}
			body, _ := json.Marshal(e)
			return adminCall(admin, http.MethodPost, q, body)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&address, "address", "", "The address of the administration API")
	f.StringVarP(&configFile, "config", "c", "", "Configuration file naming the admin address")
	f.StringVarP(&adapter, "adapter", "a", "", "Name of config adapter to apply")
	f.StringVar(&name, "name", "", "Revocation list name (default: default)")
	f.String("jti", "", "Revoke one token by its jti")
	f.String("token", "", "Revoke one token by the jti in its payload (decoded, not verified)")
	f.String("group", "", "Revoke the tokens of a group (grp)")
	f.String("kid", "", "Revoke the tokens a key verified, issued before --before")
	f.String("aud", "", "Revoke the tokens of an audience, issued before --before")
	f.StringVar(&before, "before", "", "Cutoff (RFC 3339) for --group, --kid, --aud")
	f.StringVar(&expires, "expires", "", "When the entry disappears (RFC 3339)")
	f.BoolVar(&list, "list", false, "List the active revocations")
	f.BoolVar(&remove, "remove", false, "Remove the entry instead of adding it")
	return cmd
}

// subjectFlags are the flags naming what to revoke, and the kind each names.
var subjectFlags = []struct {
	flag string
	kind revocation.Kind
}{{"jti", revocation.JTI}, {"token", revocation.JTI}, {"group", revocation.Group}, {"kid", revocation.Key}, {"aud", revocation.Audience}}

// revokeSubject reads the one subject flag given, refusing ids no token
// could carry and values that are one of the command's own flags.
func revokeSubject(cmd *cobra.Command) (revocation.Subject, error) {
	var sub revocation.Subject
	given := ""
	for _, sf := range subjectFlags {
		if !cmd.Flags().Changed(sf.flag) {
			continue
		}
		if given != "" {
			return sub, fmt.Errorf("give exactly one of --jti, --token, --group, --kid, --aud (or --list); got --%s and --%s", given, sf.flag)
		}
		given = sf.flag
		sub.Kind = sf.kind
		sub.ID, _ = cmd.Flags().GetString(sf.flag)
	}
	if given == "" {
		return sub, fmt.Errorf("give exactly one of --jti, --token, --group, --kid, --aud (or --list)")
	}
	if looksLikeFlag(cmd, sub.ID) {
		return sub, fmt.Errorf("--%s got %q, which is one of this command's flags: give --%s a value", given, sub.ID, given)
	}
	if given == "token" {
		jti, err := unverifiedJTI(sub.ID)
		if err != nil {
			return sub, fmt.Errorf("--token: %w", err)
		}
		sub.ID = jti
		fmt.Fprintf(cmd.ErrOrStderr(), "jti %s (read from the token, which was not verified)\n", jti)
	}
	if err := checkRevokable(sub); err != nil {
		return sub, fmt.Errorf("--%s %q: %w (docs/token.md): no token could carry it", given, sub.ID, err)
	}
	if err := sub.Validate(); err != nil {
		return sub, fmt.Errorf("--%s: %w", given, err)
	}
	return sub, nil
}

// looksLikeFlag reports whether a value is spelled like one of cmd's
// flags: "--remove", "--list=true", "-c".
func looksLikeFlag(cmd *cobra.Command, v string) bool {
	name, _, _ := strings.Cut(v, "=")
	switch {
	case strings.HasPrefix(name, "--"):
		return cmd.Flags().Lookup(name[2:]) != nil
	case strings.HasPrefix(name, "-") && len(name) == 2:
		return cmd.Flags().ShorthandLookup(name[1:]) != nil
	}
	return false
}

// unverifiedJTI reads the jti claim from a token's payload, without verifying it.
func unverifiedJTI(raw string) (string, error) {
	_, payload, err := splitJWS(raw)
	if err != nil {
		return "", err
	}
	var claims struct {
		ID *string `json:"jti"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", fmt.Errorf("payload: %w", err)
	}
	if claims.ID == nil {
		return "", fmt.Errorf("the payload has no jti (a string)")
	}
	return *claims.ID, nil
}

const caddy1 = caddy.ExitCodeFailedStartup

// adminCall sends one request to the valet admin API and prints the answer.
func adminCall(admin, method string, q url.Values, body []byte) (int, error) {
	uri := "/valet/revocations"
	if len(q) > 0 {
		uri += "?" + q.Encode()
	}
	h := http.Header{"Content-Type": {"application/json"}}
	resp, err := caddycmd.AdminAPIRequest(admin, method, uri, h, bytes.NewReader(body))
	if err != nil {
		return caddy1, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(os.Stdout, resp.Body)
	return caddy.ExitCodeSuccess, err
}
