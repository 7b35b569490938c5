package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/valetkey/caddy-valet/caddymodule/token"
	"github.com/valetkey/caddy-valet/internal/testenv"
)

// The interop tests prove that the spec in docs/token.md is enough: tokens
// minted by independent JWT libraries, as the spec tells applications to
// mint them, pass our Verifier, and tokens we mint pass theirs.

// jwtLib runs one of the scripts in interop/: "mint" or "verify", a JSON
// request on stdin, the answer on stdout.
type jwtLib func(t *testing.T, op string, req any) []byte

func joseLib(t *testing.T) jwtLib {
	node := testenv.Require(t, "node")
	npm := testenv.Require(t, "npm")
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "jose.mjs"} {
		b, err := os.ReadFile(filepath.Join("interop", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Sprintf("npm ci (jose) failed: %v\n%s", err, out))
	}
	return scriptLib(dir, node, "jose.mjs")
}

func pyjwtLib(t *testing.T) jwtLib {
	python := testenv.Require(t, "/usr/bin/python3")
	if out, err := exec.Command(python, "-c", "import jwt, cryptography").CombinedOutput(); err != nil {
		testenv.Missing(t, "PyJWT with cryptography is not installed (Debian python3-jwt python3-cryptography): "+string(out))
	}
	dir, err := filepath.Abs("interop")
	if err != nil {
		t.Fatal(err)
	}
	return scriptLib(dir, python, "pyjwt.py")
}

func scriptLib(dir, interpreter, script string) jwtLib {
	return func(t *testing.T, op string, req any) []byte {
		t.Helper()
		in, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, interpreter, script, op)
		cmd.Dir = dir
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", script, op, err, stderr.Bytes())
		}
		return bytes.TrimSpace(out)
	}
}

// interopKeys is one fresh key of each algorithm, in the forms keygen writes.
type interopKeys struct {
	secret              string
	edPrivate, edPublic string
	verifier            token.Verifier
	hsSigner, edSigner  *token.Key
}

func newInteropKeys(t *testing.T) interopKeys {
	priv, pub, err := token.NewEd25519PEM()
	if err != nil {
		t.Fatal(err)
	}
	k := interopKeys{secret: token.NewHMACSecret(), edPrivate: string(priv), edPublic: string(pub)}
	if k.hsSigner, err = token.ParseKey("hs1", token.HS256, []byte(k.secret)); err != nil {
		t.Fatal(err)
	}
	if k.edSigner, err = token.ParseKey("ed1", token.EdDSA, priv); err != nil {
		t.Fatal(err)
	}
	edVerify, err := token.ParseKey("ed1", token.EdDSA, pub) // the gateway holds only the public key
	if err != nil {
		t.Fatal(err)
	}
	ks, err := token.NewKeySet(k.hsSigner, edVerify)
	if err != nil {
		t.Fatal(err)
	}
	k.verifier = token.Verifier{Keys: ks, Audience: "gw.example", Leeway: 30 * time.Second, MaxTTL: 10 * time.Minute}
	return k
}

// interopClaims uses every claim of the spec, with a non-ASCII scope so the
// libraries' JSON escaping is tested too.
func interopClaims(now time.Time, aud any) map[string]any {
	return map[string]any{
		"exp": now.Unix() + 300, "iat": now.Unix(), "nbf": now.Unix() - 5,
		"jti": token.NewID(), "aud": aud,
		"p": []string{"/photos/café/", "/docs/a b.pdf"}, "m": []string{"GET", "PUT"},
		"ip": []string{"127.0.0.0/8", "::1/128"}, "https": true, "maxb": 1048576,
		"ctypes": []string{"image/jpeg"}, "ow": true, "grp": "album-7", "uses": 3,
		"origins": []string{"https://app.example"},
		"rsp":     map[string]string{"cd": `attachment; filename="a.jpg"`, "ct": "image/jpeg", "cc": "no-store"},
	}
}

func TestInteropMintedElsewhere(t *testing.T) {
	for name, setup := range map[string]func(*testing.T) jwtLib{"jose": joseLib, "pyjwt": pyjwtLib} {
		t.Run(name, func(t *testing.T) {
			lib := setup(t)
			keys := newInteropKeys(t)
			for _, tc := range []struct {
				alg, kid, key string
				aud           any
			}{
				{"HS256", "hs1", keys.secret, "gw.example"},
				{"EdDSA", "ed1", keys.edPrivate, []string{"other.example", "gw.example"}},
			} {
				t.Run(tc.alg, func(t *testing.T) {
					now := time.Now()
					want := interopClaims(now, tc.aud)
					raw := string(lib(t, "mint", map[string]any{"alg": tc.alg, "kid": tc.kid, "key": tc.key, "claims": want}))

					c, reason := keys.verifier.Verify(raw, now)
					if reason != token.Allowed {
						t.Fatalf("Verify(%s token) = %q\n%s", name, reason, raw)
					}
					if c.KeyID() != tc.kid || c.ID != want["jti"] || c.ExpiresAt.Unix() != want["exp"] ||
						!slices.Equal(c.Paths, want["p"].([]string)) || !slices.Equal(c.Methods, want["m"].([]string)) ||
						!slices.Equal(c.IPs, want["ip"].([]string)) || !c.HTTPSOnly || c.MaxBytes != 1048576 ||
						!slices.Equal(c.ContentTypes, []string{"image/jpeg"}) || !c.Overwrite || c.Group != "album-7" ||
						c.Uses != 3 || !slices.Equal(c.Origins, []string{"https://app.example"}) || c.Response == nil ||
						*c.Response != (token.ResponseOverrides{ContentDisposition: `attachment; filename="a.jpg"`, ContentType: "image/jpeg", CacheControl: "no-store"}) {
						t.Fatalf("claims read as %+v, minted %v", c, want)
					}
					path, reason := token.CanonicalPath("/photos/caf%C3%A9/x.jpg")
					if reason != token.Allowed {
						t.Fatal(reason)
					}
					req := token.Request{Method: "PUT", Path: path, ClientIP: mustAddr(t, "127.0.0.1"), HTTPS: true}
					if r := c.Allows(req); r != token.Allowed {
						t.Fatalf("Allows = %q", r)
					}

					// The same library's token under another key must fail, or
					// the checks above prove nothing.
					other := newInteropKeys(t)
					if _, r := other.verifier.Verify(raw, now); r != token.BadSignature {
						t.Fatalf("Verify with another key = %q, want %q", r, token.BadSignature)
					}
				})
			}
		})
	}
}

func TestInteropMintedHere(t *testing.T) {
	for name, setup := range map[string]func(*testing.T) jwtLib{"jose": joseLib, "pyjwt": pyjwtLib} {
		t.Run(name, func(t *testing.T) {
			lib := setup(t)
			keys := newInteropKeys(t)
			for _, tc := range []struct {
				signer *token.Key
				key    string
			}{
				{keys.hsSigner, keys.secret},
				{keys.edSigner, keys.edPublic},
			} {
				t.Run(string(tc.signer.Alg), func(t *testing.T) {
					c := &token.Claims{Paths: []string{"/photos/café/"}, Methods: []string{"GET"}, Group: "g", Uses: 2}
					c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(5 * time.Minute))
					c.Audience = jwt.ClaimStrings{"gw.example"}
					raw, err := token.Mint(c, tc.signer)
					if err != nil {
						t.Fatal(err)
					}
					out := lib(t, "verify", map[string]any{"alg": string(tc.signer.Alg), "key": tc.key, "token": raw, "audience": "gw.example"})
					var got struct {
						JTI   string   `json:"jti"`
						Paths []string `json:"p"`
						Group string   `json:"grp"`
						Uses  int64    `json:"uses"`
					}
					if err := json.Unmarshal(out, &got); err != nil {
						t.Fatalf("%s answered %s: %v", name, out, err)
					}
					if got.JTI != c.ID || !slices.Equal(got.Paths, c.Paths) || got.Group != "g" || got.Uses != 2 {
						t.Fatalf("%s read %+v, minted %+v", name, got, c)
					}
				})
			}
		})
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
