package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
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
		jti, group, kid, aud               string
		before, expires                    string
		list, remove                       bool
	)
	cmd := &cobra.Command{
		Use:   "revoke (--jti ID | --group G | --kid K | --aud A) [--before T] [--expires T] | --list | --remove ...",
		Short: "Revokes valet tokens through a running Caddy's admin API",
		Long: `
Revokes valet tokens in the revocation list of a running Caddy, through its
admin API (the address is found like "caddy reload" finds it).

  caddy valet revoke --jti ID               one token
  caddy valet revoke --group G              every token with grp G
  caddy valet revoke --kid K [--before T]   every token key K verified, issued
                                            at or before T (default: now)
  caddy valet revoke --aud A [--before T]   likewise for an audience
  caddy valet revoke --list                 the active revocations, as JSON
  caddy valet revoke --remove --jti ID      delete one entry

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
			var sub revocation.Subject
			n := 0
			for kind, id := range map[revocation.Kind]string{revocation.JTI: jti, revocation.Group: group, revocation.Key: kid, revocation.Audience: aud} {
				if id != "" {
					sub, n = revocation.Subject{Kind: kind, ID: id}, n+1
				}
			}
			if n != 1 {
				return caddy1, fmt.Errorf("give exactly one of --jti, --group, --kid, --aud (or --list)")
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
	f.StringVar(&jti, "jti", "", "Revoke one token by its jti")
	f.StringVar(&group, "group", "", "Revoke the tokens of a group (grp)")
	f.StringVar(&kid, "kid", "", "Revoke the tokens a key verified, issued before --before")
	f.StringVar(&aud, "aud", "", "Revoke the tokens of an audience, issued before --before")
	f.StringVar(&before, "before", "", "Cutoff (RFC 3339) for --group, --kid, --aud")
	f.StringVar(&expires, "expires", "", "When the entry disappears (RFC 3339)")
	f.BoolVar(&list, "list", false, "List the active revocations")
	f.BoolVar(&remove, "remove", false, "Remove the entry instead of adding it")
	return cmd
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
