// Makes DPoP proofs (RFC 9449) with npm `jose` and fresh keys, for core/tests/api/dpop.rs: each
// case with the verdict mcp-authz-core must give. Run from interop/ (it has `jose`):
//   cd interop && node --input-type=module < ../core/tests/data/dpop/make_proofs.mjs > ../core/tests/data/dpop/jose.json
import { SignJWT, exportJWK, generateKeyPair, calculateJwkThumbprint, base64url } from "jose";
import { createHash } from "node:crypto";

const NOW = 1700000000;
const URI = "https://mcp.example.com/mcp";
const TOKEN = "eyJhbGciOiJFUzI1NiJ9.access-token-of-the-client.sig";
const ath = (t) => base64url.encode(createHash("sha256").update(t).digest());

async function key(alg, options = {}) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, ...options });
  const jwk = await exportJWK(publicKey);
  return { alg, privateKey, jwk, private: await exportJWK(privateKey), jkt: await calculateJwkThumbprint(jwk) };
}

async function proof(k, { header = {}, claims = {}, jwk } = {}) {
  const body = { jti: base64url.encode(crypto.getRandomValues(new Uint8Array(12))), htm: "POST", htu: URI, iat: NOW, ath: ath(TOKEN), ...claims };
  for (const [n, v] of Object.entries(body)) if (v === undefined) delete body[n];
  return new SignJWT(body)
    .setProtectedHeader({ typ: "dpop+jwt", alg: k.alg, jwk: jwk ?? k.jwk, ...header })
    .sign(k.privateKey);
}

const keys = {
  ES256: await key("ES256"),
  ES384: await key("ES384"),
  RS256: await key("RS256", { modulusLength: 2048 }),
  PS256: await key("PS256", { modulusLength: 2048 }),
  EdDSA: await key("EdDSA", { crv: "Ed25519" }),
};
const cases = [];
for (const [alg, k] of Object.entries(keys)) {
  cases.push({ what: `valid ${alg}`, proof: await proof(k), expect: "valid", jkt: k.jkt });
}
const es = keys.ES256;
const other = await key("ES256");
cases.push(
  { what: "typ JWT", proof: await proof(es, { header: { typ: "JWT" } }), expect: "dpop_invalid_typ" },
  { what: "private jwk", proof: await proof(es, { jwk: es.private }), expect: "dpop_private_jwk" },
  { what: "jwk of another key", proof: await proof(es, { jwk: other.jwk }), expect: "dpop_invalid_signature" },
  { what: "GET instead of POST", proof: await proof(es, { claims: { htm: "GET" } }), expect: "dpop_htm_mismatch" },
  { what: "another URI", proof: await proof(es, { claims: { htu: "https://mcp.example.com/other" } }), expect: "dpop_htu_mismatch" },
  { what: "htu with a query (ignored)", proof: await proof(es, { claims: { htu: `${URI}?x=1` } }), expect: "valid", jkt: es.jkt },
  { what: "htu, upper-case host and default port", proof: await proof(es, { claims: { htu: "https://MCP.example.com:443/mcp" } }), expect: "valid", jkt: es.jkt },
  { what: "iat 301 s old", proof: await proof(es, { claims: { iat: NOW - 301 } }), expect: "dpop_iat_out_of_window" },
  { what: "iat 301 s ahead", proof: await proof(es, { claims: { iat: NOW + 301 } }), expect: "dpop_iat_out_of_window" },
  { what: "iat 299 s old", proof: await proof(es, { claims: { iat: NOW - 299 } }), expect: "valid", jkt: es.jkt },
  { what: "no jti", proof: await proof(es, { claims: { jti: undefined } }), expect: "dpop_missing_jti" },
  { what: "no ath", proof: await proof(es, { claims: { ath: undefined } }), expect: "dpop_ath_mismatch" },
  { what: "ath of another token", proof: await proof(es, { claims: { ath: ath("another") } }), expect: "dpop_ath_mismatch" },
  { what: "iat as a string", proof: await proof(es, { claims: { iat: String(NOW) } }), expect: "dpop_invalid_claim" },
);
console.log(JSON.stringify({
  generator: "npm jose " + JSON.parse((await import("node:fs")).readFileSync("node_modules/jose/package.json", "utf8")).version,
  now: NOW, uri: URI, method: "POST", access_token: TOKEN, cases,
}, null, 1));
