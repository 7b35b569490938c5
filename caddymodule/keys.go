package caddymodule

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/valetkey/caddy-valet/caddymodule/token"
)

// Key is one key the gate verifies tokens with. The gateway holds only what
// it needs to verify: an HS256 secret, or an Ed25519 public key.
type Key struct {
	// ID is the key id tokens name in their "kid" header.
	ID string `json:"id,omitempty"`

	// Algorithm is the one algorithm this key verifies: "HS256" or "EdDSA".
	// A token signed with any other algorithm is refused (alg_mismatch).
	Algorithm string `json:"algorithm,omitempty"`

	// Material is the key itself: the HS256 secret text (at least 32 bytes),
	// or the Ed25519 public key as PEM. Use a placeholder such as
	// {file./etc/caddy/valet.key} or {env.VALET_SECRET} so it stays out of
	// the config; it is resolved at provision time and never logged.
	Material string `json:"material,omitempty"`
}

// parseAlg accepts an algorithm name in any letter case.
func parseAlg(s string) (token.Alg, error) {
	switch strings.ToLower(s) {
	case "hs256":
		return token.HS256, nil
	case "eddsa":
		return token.EdDSA, nil
	}
	return "", fmt.Errorf("unsupported algorithm %q (use HS256 or EdDSA)", s)
}

// load resolves the key material and parses it.
func (k Key) load(repl *caddy.Replacer) (*token.Key, error) {
	alg, err := parseAlg(k.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", k.ID, err)
	}
	material, err := repl.ReplaceOrErr(k.Material, true, true)
	if err != nil {
		return nil, fmt.Errorf("key %q: resolving material: %w", k.ID, err)
	}
	key, err := token.ParseKey(k.ID, alg, []byte(material))
	if err != nil {
		return nil, err
	}
	if key.CanSign() && alg == token.EdDSA {
		return nil, fmt.Errorf("key %q: the gateway takes the Ed25519 public key, not the private key (configure the .pub file keygen wrote)", k.ID)
	}
	return key, nil
}
