"""Mints or verifies a valet token with PyJWT, as docs/token.md tells a
Python application to. Usage: python3 pyjwt.py mint|verify < request.json
  mint:   {"alg", "kid", "key", "claims"}  -> prints the token
  verify: {"alg", "key", "token", "audience"} -> prints the claims as JSON
key is the HS256 secret text, or an Ed25519 PEM (PKCS #8 private key to
mint, SPKI public key to verify)."""
import json
import sys

import jwt

req = json.load(sys.stdin)
if sys.argv[1:] == ["mint"]:
    print(jwt.encode(req["claims"], req["key"], algorithm=req["alg"], headers={"kid": req["kid"]}))
elif sys.argv[1:] == ["verify"]:
    claims = jwt.decode(
        req["token"],
        req["key"],
        algorithms=[req["alg"]],
        audience=req.get("audience"),
        options={"require": ["exp", "jti"]},
    )
    print(json.dumps(claims))
else:
    sys.exit("usage: python3 pyjwt.py mint|verify < request.json")
