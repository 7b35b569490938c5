// Mints or verifies a valet token with jose, as docs/token.md tells a
// Node application to. Usage: node jose.mjs mint|verify < request.json
//   mint:   {"alg", "kid", "key", "claims"}  -> prints the token
//   verify: {"alg", "key", "token", "audience"} -> prints the claims as JSON
// key is the HS256 secret text, or an Ed25519 PEM (PKCS #8 private key to
// mint, SPKI public key to verify).
import { SignJWT, jwtVerify, importPKCS8, importSPKI } from 'jose';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const req = JSON.parse(Buffer.concat(chunks).toString('utf8'));

async function key(forSigning) {
  if (req.alg === 'HS256') return new TextEncoder().encode(req.key);
  return forSigning ? importPKCS8(req.key, 'EdDSA') : importSPKI(req.key, 'EdDSA');
}

if (process.argv[2] === 'mint') {
  const token = await new SignJWT(req.claims)
    .setProtectedHeader({ alg: req.alg, kid: req.kid, typ: 'JWT' })
    .sign(await key(true));
  process.stdout.write(token + '\n');
} else if (process.argv[2] === 'verify') {
  const { payload } = await jwtVerify(req.token, await key(false), {
    algorithms: [req.alg],
    audience: req.audience,
    requiredClaims: ['exp', 'jti'],
  });
  process.stdout.write(JSON.stringify(payload) + '\n');
} else {
  console.error('usage: node jose.mjs mint|verify < request.json');
  process.exit(2);
}
