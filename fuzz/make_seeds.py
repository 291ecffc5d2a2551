#!/usr/bin/env python3
"""Writes the seed corpora from the project's test vectors (run from fuzz/)."""
import glob
import hashlib
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def put(target, data):
    d = os.path.join("seeds", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


interop = os.path.join(ROOT, "core/tests/data/interop")
for name in ["pyjwt.json", "jwcrypto.json"]:
    doc = json.load(open(os.path.join(interop, name)))
    put("jwks_parse", json.dumps(doc["jwks"]))
    for t in doc["tokens"]:
        put("jws_verify", t["token"])
        put("decision", "POST\x00/mcp\x00Bearer " + t["token"])
        put("challenge", "Bearer " + t["token"])
for ex in json.load(open(os.path.join(ROOT, "core/tests/data/rfc/examples.json")))["examples"]:
    put("jws_verify", ex["token"])
    put("jwks_parse", json.dumps({"keys": [ex["key"]]}))
for path in glob.glob(os.path.join(ROOT, "core/tests/data/as-metadata/*.json")):
    if not path.endswith("cases.json"):
        put("as_metadata", open(path, "rb").read())
put("challenge", "Bearer a,Bearer b")
put("challenge", "basic dXNlcjpwYXNz")
put("jwks_policy", bytes(range(64)))
put("jws_claims", bytes([1] * 64))
