package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// cliRun is the outcome of one `caddy valet ...` run.
type cliRun struct {
	stdout, stderr string
	status         int
}

// cliRunner runs `caddy valet ...` with the built cmd/caddy.
func cliRunner(t *testing.T) func(args ...string) cliRun {
	bin := testenv.CaddyBinary(t)
	return func(args ...string) cliRun {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"valet"}, args...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatalf("running caddy valet %q: %v", args, err)
		}
		return cliRun{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
	}
}

func TestCLI(t *testing.T) {
	caddy := cliRunner(t)
	dir := t.TempDir()
	hsFile, edFile := filepath.Join(dir, "hs.key"), filepath.Join(dir, "ed.key")

	t.Run("keygen", func(t *testing.T) {
		if r := caddy("keygen", "--alg", "hs256", "--out", hsFile); r.status != 0 {
			t.Fatalf("keygen hs256: %+v", r)
		}
		if r := caddy("keygen", "--alg", "eddsa", "--out", edFile); r.status != 0 {
			t.Fatalf("keygen eddsa: %+v", r)
		}
		for _, f := range []string{hsFile, edFile} {
			if st, err := os.Stat(f); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v, mode %v; want 0600", f, err, st.Mode())
			}
		}
		secret, _ := os.ReadFile(hsFile)
		if _, err := token.ParseKey("k", token.HS256, secret); err != nil {
			t.Fatalf("keygen wrote an unusable secret: %v", err)
		}
		pub, _ := os.ReadFile(edFile + ".pub")
		if _, err := token.ParseKey("k", token.EdDSA, pub); err != nil {
			t.Fatalf("keygen wrote an unusable public key: %v", err)
		}

		// Never overwrite; never leave half a key pair.
		if r := caddy("keygen", "--alg", "hs256", "--out", hsFile); r.status == 0 {
			t.Fatal("keygen overwrote an existing file")
		}
		if again, _ := os.ReadFile(hsFile); !bytes.Equal(again, secret) {
			t.Fatal("refused keygen changed the file")
		}
		lone := filepath.Join(dir, "lone.key")
		os.WriteFile(lone+".pub", []byte("x"), 0o644)
		if r := caddy("keygen", "--alg", "eddsa", "--out", lone); r.status == 0 {
			t.Fatal("keygen overwrote an existing .pub")
		}
		if _, err := os.Stat(lone); !os.IsNotExist(err) {
			t.Fatalf("refused keygen left %s behind", lone)
		}
		if r := caddy("keygen", "--alg", "rs256", "--out", filepath.Join(dir, "rs.key")); r.status == 0 {
			t.Fatal("keygen accepted rs256")
		}
	})

	sign := func(t *testing.T, args ...string) string {
		t.Helper()
		r := caddy(append([]string{"sign"}, args...)...)
		if r.status != 0 {
			t.Fatalf("sign %q: %+v", args, r)
		}
		return strings.TrimSpace(r.stdout)
	}
	verifier := func(t *testing.T, file, kid, aud string) *token.Verifier {
		t.Helper()
		material, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		k, err := token.ParseKey(kid, token.DetectAlg(material), material)
		if err != nil {
			t.Fatal(err)
		}
		ks, _ := token.NewKeySet(k)
		return &token.Verifier{Keys: ks, Audience: aud, Leeway: 30 * time.Second, MaxTTL: time.Hour}
	}

	t.Run("sign every flag", func(t *testing.T) {
		raw := sign(t, "--key", hsFile, "--kid", "hs1", "--path", "/photos/alice/", "--path", "/docs/a,b.txt",
			"--methods", "GET, put", "--ttl", "15m", "--nbf", "-1m", "--aud", "gw.example",
			"--ip", "10.0.0.0/8", "--ip", "::1/128", "--https-only", "--max-bytes", "1048576",
			"--content-type", "image/jpeg", "--content-type", "image/png", "--overwrite", "--group", "album-7",
			"--uses", "3", "--id", "cli-test-jti-0123456789", "--origin", "https://app.example",
			"--disposition", `attachment; filename="a.jpg"`)
		c, reason := verifier(t, hsFile, "hs1", "gw.example").Verify(raw, time.Now())
		if reason != token.Allowed {
			t.Fatalf("Verify = %q", reason)
		}
		if !slices.Equal(c.Paths, []string{"/photos/alice/", "/docs/a,b.txt"}) || !slices.Equal(c.Methods, []string{"GET", "PUT"}) ||
			!slices.Equal(c.IPs, []string{"10.0.0.0/8", "::1/128"}) || !c.HTTPSOnly || c.MaxBytes != 1048576 ||
			!slices.Equal(c.ContentTypes, []string{"image/jpeg", "image/png"}) || !c.Overwrite || c.Group != "album-7" ||
			c.Uses != 3 || c.ID != "cli-test-jti-0123456789" || !slices.Equal(c.Origins, []string{"https://app.example"}) ||
			c.Response == nil || c.Response.ContentDisposition != `attachment; filename="a.jpg"` || c.KeyID() != "hs1" {
			t.Fatalf("claims: %+v", c)
		}
		if d := time.Until(c.ExpiresAt.Time); d < 14*time.Minute || d > 15*time.Minute {
			t.Fatalf("exp in %s, want 15m", d)
		}
		if d := time.Since(c.NotBefore.Time); d < 55*time.Second || d > 2*time.Minute {
			t.Fatalf("nbf %s ago, want 1m", d)
		}
	})

	t.Run("sign nbf RFC 3339", func(t *testing.T) {
		nbf := time.Now().Add(20 * time.Minute).UTC().Truncate(time.Second)
		raw := sign(t, "--key", edFile, "--kid", "ed1", "--path", "/a/", "--ttl", "30m", "--nbf", nbf.Format(time.RFC3339))
		if _, r := verifier(t, edFile+".pub", "ed1", "").Verify(raw, time.Now()); r != token.NotYetValid {
			t.Fatalf("Verify = %q, want %q", r, token.NotYetValid)
		}
		if _, r := verifier(t, edFile+".pub", "ed1", "").Verify(raw, nbf); r != token.Allowed {
			t.Fatalf("Verify at nbf = %q", r)
		}
	})

	t.Run("sign refuses", func(t *testing.T) {
		for _, args := range [][]string{
			{"--key", hsFile, "--kid", "hs1", "--path", "photos/"},                     // relative scope
			{"--key", hsFile, "--kid", "hs1", "--path", "/a/../b/"},                    // dot segment
			{"--key", hsFile, "--kid", "hs1"},                                          // no scope
			{"--key", hsFile, "--path", "/a/"},                                         // no kid
			{"--key", edFile + ".pub", "--kid", "ed1", "--path", "/a/"},                // public key cannot sign
			{"--key", hsFile, "--kid", "hs1", "--path", "/a/", "--methods", "OPTIONS"}, // not grantable
			{"--key", hsFile, "--kid", "hs1", "--path", "/a/", "--ttl", "0s"},
			{"--key", hsFile, "--kid", "hs1", "--path", "/a/", "--id", "short"},
			{"--key", hsFile, "--kid", "hs1", "--path", "/a/", "--nbf", "tomorrow"},
			{"--key", hsFile, "--kid", "hs1", "--path", "/a/", "--ip", "10.0.0.1"},
			{"--key", hsFile, "--kid", "hs1", "--path", "/a/", "--url", "https://gw.example/a/x?vk=old"},
		} {
			if r := caddy(append([]string{"sign"}, args...)...); r.status == 0 || r.stdout != "" {
				t.Errorf("sign %q = %+v, want a refusal and no output", args, r)
			}
		}
	})

	t.Run("sign url", func(t *testing.T) {
		out := sign(t, "--key", hsFile, "--kid", "hs1", "--path", "/a/", "--url", "https://gw.example/a/x.txt?b=2&a=%20#top")
		u, err := url.Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, "https://gw.example/a/x.txt?b=2&a=%20&vk=") || u.Fragment != "top" {
			t.Fatalf("url %q", out)
		}
		if _, r := verifier(t, hsFile, "hs1", "").Verify(u.Query().Get("vk"), time.Now()); r != token.Allowed {
			t.Fatalf("token in URL: %q", r)
		}
		out = sign(t, "--key", hsFile, "--kid", "hs1", "--path", "/a/", "--url", "https://gw.example/a/x.txt", "--param", "sig")
		if u, _ := url.Parse(out); u.Query().Get("sig") == "" || u.Query().Has("vk") {
			t.Fatalf("url with --param: %q", out)
		}
		out = sign(t, "--key", hsFile, "--kid", "hs1", "--path", "/a/", "--url", "https://gw.example/a/my%20x.txt?b=2", "--path-marker", "~vk")
		rest, ok := strings.CutPrefix(out, "https://gw.example/~vk/")
		tok, after, _ := strings.Cut(rest, "/")
		if !ok || after != "a/my%20x.txt?b=2" {
			t.Fatalf("url with --path-marker: %q", out)
		}
		if _, r := verifier(t, hsFile, "hs1", "").Verify(tok, time.Now()); r != token.Allowed {
			t.Fatalf("token in the path: %q", r)
		}
		if r := caddy("sign", "--key", hsFile, "--kid", "hs1", "--path", "/a/", "--path-marker", "~vk"); r.status == 0 {
			t.Fatalf("--path-marker without --url: %+v", r)
		}
	})

	t.Run("inspect", func(t *testing.T) {
		hsTok := sign(t, "--key", hsFile, "--kid", "hs1", "--path", "/photos/alice/", "--methods", "GET", "--aud", "gw.example")
		edTok := sign(t, "--key", edFile, "--kid", "ed1", "--path", "/photos/alice/", "--methods", "PUT", "--ip", "10.0.0.0/8", "--https-only")
		tests := []struct {
			args     []string
			status   int
			decision string
		}{
			{[]string{"--token", hsTok}, 3, "decision: none"},
			{[]string{"--token", hsTok, "--key", hsFile, "--kid", "hs1", "--aud", "gw.example"}, 0, "decision: allow"},
			{[]string{"--token", hsTok, "--key", hsFile, "--kid", "hs1", "--aud", "other.example"}, 2, "decision: deny audience_mismatch"},
			{[]string{"--token", hsTok, "--key", hsFile, "--kid", "hs2", "--aud", "gw.example"}, 2, "decision: deny unknown_key"},
			{[]string{"--token", hsTok, "--key", edFile + ".pub", "--kid", "hs1", "--aud", "gw.example"}, 2, "decision: deny alg_mismatch"},
			{[]string{"--token", hsTok, "--key", hsFile, "--kid", "hs1", "--aud", "gw.example", "--path", "/photos/alice/a.jpg"}, 0, "decision: allow"},
			{[]string{"--token", hsTok, "--key", hsFile, "--kid", "hs1", "--aud", "gw.example", "--method", "HEAD", "--path", "/photos/alice/a.jpg"}, 0, "decision: allow"},
			{[]string{"--token", hsTok, "--key", hsFile, "--kid", "hs1", "--aud", "gw.example", "--method", "PUT", "--path", "/photos/alice/a.jpg"}, 2, "decision: deny method_not_allowed"},
			{[]string{"--token", hsTok, "--key", hsFile, "--kid", "hs1", "--aud", "gw.example", "--path", "/photos/alice2/a.jpg"}, 2, "decision: deny out_of_scope"},
			{[]string{"--token", hsTok, "--key", hsFile, "--kid", "hs1", "--aud", "gw.example", "--path", "/photos/alice/%2e%2e/bob/a.jpg"}, 2, "decision: deny ambiguous_path"},
			{[]string{"--token", hsTok + "x", "--key", hsFile, "--kid", "hs1", "--aud", "gw.example"}, 2, "decision: deny"},
			{[]string{"--token", edTok, "--key", edFile + ".pub", "--kid", "ed1", "--method", "PUT", "--path", "/photos/alice/a.jpg", "--ip", "10.1.2.3", "--https"}, 0, "decision: allow"},
			{[]string{"--token", edTok, "--key", edFile, "--kid", "ed1", "--method", "PUT", "--path", "/photos/alice/a.jpg", "--ip", "10.1.2.3", "--https"}, 0, "decision: allow"},
			{[]string{"--token", edTok, "--key", edFile + ".pub", "--kid", "ed1", "--method", "PUT", "--path", "/photos/alice/a.jpg", "--ip", "192.0.2.1", "--https"}, 2, "decision: deny ip_not_allowed"},
			{[]string{"--token", edTok, "--key", edFile + ".pub", "--kid", "ed1", "--method", "PUT", "--path", "/photos/alice/a.jpg", "--ip", "10.1.2.3"}, 2, "decision: deny https_required"},
			{[]string{"--token", edTok, "--key", hsFile, "--kid", "ed1"}, 2, "decision: deny alg_mismatch"},
			{[]string{"--token", hsTok, "--key", hsFile}, 1, ""},                       // --kid missing
			{[]string{"--token", hsTok, "--method", "GET"}, 1, ""},                     // nothing to judge
			{[]string{"--token", hsTok, "--key", "/nonexistent", "--kid", "x"}, 1, ""}, // unreadable key
		}
		for _, tt := range tests {
			r := caddy(append([]string{"inspect"}, tt.args...)...)
			if r.status != tt.status || !strings.Contains(r.stdout, tt.decision) {
				t.Errorf("inspect %q:\nstatus %d, want %d; stdout:\n%s\nstderr: %s", tt.args[2:], r.status, tt.status, r.stdout, r.stderr)
			}
		}
		// The decoded part is JSON with the header and the claims.
		r := caddy("inspect", "--token", edTok)
		var doc struct {
			Header map[string]any `json:"header"`
			Claims map[string]any `json:"claims"`
		}
		if err := json.NewDecoder(strings.NewReader(r.stdout)).Decode(&doc); err != nil || doc.Header["kid"] != "ed1" ||
			doc.Header["alg"] != "EdDSA" || doc.Claims["https"] != true {
			t.Fatalf("inspect output %q: %v", r.stdout, err)
		}
	})
}
