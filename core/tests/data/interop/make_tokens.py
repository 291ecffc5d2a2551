#!/usr/bin/env python3
"""Makes the interop test data: keys and JWT access tokens signed by two independent JOSE
libraries (PyJWT and jwcrypto), for every algorithm mcp-authz-core supports.

Run from this directory:  python3 make_tokens.py
Versions used for the committed files are recorded in each output file ("library") and in
README.md. Every run makes new keys; the Rust tests read whatever is committed.

These keys exist only for tests. Nothing here is secret.
"""
import base64
import json
from importlib.metadata import version

import cryptography
import jwt  # PyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk as cjwk
from jwcrypto import jws as cjws
from jwcrypto import jwt as cjwt
from jwcrypto.common import json_encode

ISSUER = "https://auth.example.com"
RESOURCE = "https://mcp.example.com/mcp"
IAT = 1_700_000_000
NOW = IAT + 60  # the instant the tests verify at

def claims(**over):
    c = {
        "iss": ISSUER,
        "aud": RESOURCE,
        "sub": "user-123",
        "client_id": "client-abc",
        "scope": "mcp:tools mcp:read",
        "iat": IAT,
        "nbf": IAT,
        "exp": IAT + 3600,
        "jti": "jti-1",
    }
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]

# ---------------------------------------------------------------- PyJWT
def pyjwt_data():
    keys = {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "p256": ec.generate_private_key(ec.SECP256R1()),
        "p384": ec.generate_private_key(ec.SECP384R1()),
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
    }
    kind = {"RS": "rsa", "PS": "rsa", "ES256": "p256", "ES384": "p384", "EdDSA": "ed25519"}
    def key_for(alg):
        return keys[kind.get(alg, kind.get(alg[:2]))]
    jwks = []
    for name, k in keys.items():
        d = json.loads(jwt.algorithms.get_default_algorithms()[
            {"rsa": "RS256", "p256": "ES256", "p384": "ES384", "ed25519": "EdDSA"}[name]
        ].to_jwk(k.public_key()))
        d["kid"] = "pyjwt-" + name
        d["use"] = "sig"
        jwks.append(d)
    kid_for = lambda alg: "pyjwt-" + kind.get(alg, kind.get(alg[:2]))
    tokens = []
    def add(token, alg, expect, note):
        tokens.append({"alg": alg, "token": token, "expect": expect, "note": note})
    for alg in ALGS:
        t = jwt.encode(claims(jti="pyjwt-" + alg), key_for(alg), algorithm=alg,
                       headers={"typ": "at+jwt", "kid": kid_for(alg)})
        add(t, alg, "valid", "a valid RFC 9068 access token")
    h = {"typ": "at+jwt", "kid": "pyjwt-rsa"}
    add(jwt.encode(claims(exp=IAT - 3600, nbf=IAT - 7200, iat=IAT - 7200), keys["rsa"], algorithm="RS256", headers=h), "RS256", "expired", "exp an hour before now")
    add(jwt.encode(claims(aud="https://other.example.com/mcp"), keys["rsa"], algorithm="RS256", headers=h), "RS256", "wrong_aud", "a token for another resource")
    add(jwt.encode(claims(aud=["https://a.example.com", "https://b.example.com"]), keys["rsa"], algorithm="RS256", headers=h), "RS256", "wrong_aud", "aud array without us")
    add(jwt.encode(claims(aud=["https://a.example.com", RESOURCE]), keys["rsa"], algorithm="RS256", headers=h), "RS256", "valid", "aud array with us")
    add(jwt.encode(claims(iss="https://evil.example.com"), keys["rsa"], algorithm="RS256", headers=h), "RS256", "wrong_iss", "another issuer")
    add(jwt.encode(claims(), keys["rsa"], algorithm="RS256", headers={"kid": "pyjwt-rsa"}), "RS256", "invalid_typ", "typ JWT (PyJWT's default)")
    add(jwt.encode(claims(), None, algorithm="none", headers={"typ": "at+jwt", "kid": "pyjwt-rsa"}), "none", "alg_none", "unsecured JWS")
    add(jwt.encode(claims(), keys["rsa"], algorithm="RS256", headers={"typ": "at+jwt"}), "RS256", "missing_kid", "no kid")
    add(jwt.encode(claims(), keys["p256"], algorithm="ES256", headers={"typ": "at+jwt", "kid": "pyjwt-p256", "crit": ["urn:example:unknown"], "urn:example:unknown": 1}), "ES256", "unsupported_crit", "crit naming an unknown extension")
    add(jwt.encode(claims(nbf=NOW + 3600), keys["rsa"], algorithm="RS256", headers=h), "RS256", "not_yet_valid", "nbf an hour after now")
    return {
        "library": f"PyJWT {jwt.__version__} (cryptography {cryptography.__version__})",
        "issuer": ISSUER, "resource": RESOURCE, "now": NOW,
        "jwks": {"keys": jwks}, "tokens": tokens,
    }

# ---------------------------------------------------------------- jwcrypto
def jwcrypto_data():
    keys = {
        "rsa": cjwk.JWK.generate(kty="RSA", size=2048, kid="jwcrypto-rsa", use="sig"),
        "p256": cjwk.JWK.generate(kty="EC", crv="P-256", kid="jwcrypto-p256", use="sig"),
        "p384": cjwk.JWK.generate(kty="EC", crv="P-384", kid="jwcrypto-p384", use="sig"),
        "ed25519": cjwk.JWK.generate(kty="OKP", crv="Ed25519", kid="jwcrypto-ed25519", use="sig"),
    }
    kind = {"RS": "rsa", "PS": "rsa", "ES256": "p256", "ES384": "p384", "EdDSA": "ed25519", "Ed25519": "ed25519"}
    def key_for(alg):
        return keys[kind.get(alg, kind.get(alg[:2]))]
    tokens = []
    def add(token, alg, expect, note):
        tokens.append({"alg": alg, "token": token, "expect": expect, "note": note})
    def sign(alg, cl, header=None):
        k = key_for(alg) if alg != "HS256" else None
        hdr = header if header is not None else {"alg": alg, "typ": "at+jwt", "kid": k.kid}
        t = cjwt.JWT(header=hdr, claims=cl)
        t.make_signed_token(k)
        return t.serialize()
    for alg in ALGS:
        add(sign(alg, claims(jti="jwcrypto-" + alg)), alg, "valid", "a valid RFC 9068 access token")
    try:
        add(sign("Ed25519", claims(jti="jwcrypto-Ed25519")), "Ed25519", "valid", "RFC 9864 fully specified name")
    except Exception as e:  # older jwcrypto
        print("jwcrypto has no Ed25519 alg:", e)
    # scp as an array (Okta / Entra ID style), no client_id but azp.
    add(sign("ES256", claims(scope=None, scp=["mcp:tools", "mcp:read"], client_id=None, azp="client-azp")), "ES256", "valid", "scp array and azp")
    add(sign("ES256", claims(), {"alg": "ES256", "typ": "application/at+jwt", "kid": "jwcrypto-p256"}), "ES256", "valid", "typ application/at+jwt")
    # Algorithm confusion: HS256 keyed with the RSA public key (its PEM bytes as the HMAC secret).
    pem = keys["rsa"].export_to_pem()
    secret = cjwk.JWK(kty="oct", k=b64u(pem))
    t = cjwt.JWT(header={"alg": "HS256", "typ": "at+jwt", "kid": "jwcrypto-rsa"}, claims=claims())
    t.make_signed_token(secret)
    add(t.serialize(), "HS256", "unsupported_alg", "HS256 keyed with the RSA public key PEM")
    # A kid that names the RSA key, signed with another RSA key (kid reuse).
    other = cjwk.JWK.generate(kty="RSA", size=2048, kid="jwcrypto-rsa")
    t = cjwt.JWT(header={"alg": "RS256", "typ": "at+jwt", "kid": "jwcrypto-rsa"}, claims=claims())
    t.make_signed_token(other)
    add(t.serialize(), "RS256", "invalid_signature", "the published kid, another key's signature")
    # The EC key's kid with an RSA algorithm.
    t = cjwt.JWT(header={"alg": "RS256", "typ": "at+jwt", "kid": "jwcrypto-p256"}, claims=claims())
    t.make_signed_token(keys["rsa"])
    add(t.serialize(), "RS256", "key_alg_mismatch", "RS256 naming the P-256 key")
    jwks = json.loads(cjwk.JWKSet.from_json(json.dumps({"keys": [json.loads(k.export_public()) for k in keys.values()]})).export(private_keys=False))
    return {
        "library": f"jwcrypto {version('jwcrypto')} (cryptography {cryptography.__version__})",
        "issuer": ISSUER, "resource": RESOURCE, "now": NOW,
        "jwks": jwks, "tokens": tokens,
    }

# ---------------------------------------------------------------- keys for forging in Rust tests
def forge_keys():
    """Private keys (PKCS#8 DER, base64) the Rust tests sign crafted tokens with, plus public JWKs
    of keys the verifier must refuse."""
    def pk8(k):
        return base64.b64encode(k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())).decode()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pn = small.public_key().public_numbers()
    def uint(i):
        return i.to_bytes((i.bit_length() + 7) // 8, "big")
    return {
        "note": "TEST KEYS ONLY: made by make_tokens.py, used to sign crafted tokens in tests.",
        "rsa2048_pkcs8": pk8(rsa_key),
        "p256_pkcs8": pk8(ec.generate_private_key(ec.SECP256R1())),
        "p384_pkcs8": pk8(ec.generate_private_key(ec.SECP384R1())),
        "ed25519_pkcs8": pk8(ed25519.Ed25519PrivateKey.generate()),
        "rsa1024_public_jwk": {"kty": "RSA", "kid": "small", "n": b64u(uint(pn.n)), "e": b64u(uint(pn.e))},
        "rsa1024_pkcs8": pk8(small),
    }

if __name__ == "__main__":
    for name, data in [("pyjwt.json", pyjwt_data()), ("jwcrypto.json", jwcrypto_data()), ("forge-keys.json", forge_keys())]:
        with open(name, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        print("wrote", name)
        if name == "pyjwt.json":  # the JWK Set alone, for the README's `mcp-authz verify` example
            with open("jwks-pyjwt.json", "w") as f:
                json.dump(data["jwks"], f, indent=1)
                f.write("\n")
