// Runs the core, compiled to wasm32-unknown-unknown (ci/wasm-check), in Node's WebAssembly
// runtime, over the RFC signature examples and the PyJWT and jwcrypto tokens, and checks every
// verdict against the one the host tests assert (core/tests/api/rfc_examples.rs, interop.rs).
// Usage: node ci/wasm-check/run.mjs path/to/mcp_authz_wasm_check.wasm
import { readFileSync } from "node:fs";

const root = new URL("../../", import.meta.url);
const wasm = await WebAssembly.instantiate(readFileSync(process.argv[2]), {});
const x = wasm.instance.exports;
const enc = new TextEncoder();
const dec = new TextDecoder();

function call(fn, strings, ...rest) {
  const mem = new Uint8Array(x.memory.buffer);
  let at = x.input_ptr();
  const lengths = [];
  for (const s of strings) {
    const b = enc.encode(s);
    if (at + b.length > x.input_ptr() + x.input_capacity()) throw new Error("input too large");
    mem.set(b, at);
    at += b.length;
    lengths.push(b.length);
  }
  const n = fn(...lengths, ...rest);
  return dec.decode(new Uint8Array(x.memory.buffer, x.output_ptr(), n));
}

let passed = 0;
let failed = 0;
const check = (what, got, want) => {
  if (got === want) passed++;
  else {
    failed++;
    console.log(`FAIL: ${what}: got ${got}, want ${want}`);
  }
};

const rfc = JSON.parse(readFileSync(new URL("core/tests/data/rfc/examples.json", root)));
for (const ex of rfc.examples) {
  const got = call(x.verify_jws, [JSON.stringify({ keys: [ex.key] }), ex.token]);
  check(ex.source, got, ex.expect);
}
for (const name of ["pyjwt", "jwcrypto"]) {
  const file = JSON.parse(readFileSync(new URL(`core/tests/data/interop/${name}.json`, root)));
  const jwks = JSON.stringify(file.jwks);
  for (const t of file.tokens) {
    const args = [jwks, t.token, file.issuer, file.resource];
    check(`${name}: ${t.note}`, call(x.verify_token, args, BigInt(file.now), 0), t.expect);
    if (t.expect === "invalid_typ") {
      check(`${name}: ${t.note} (lenient typ)`, call(x.verify_token, args, BigInt(file.now), 1), "valid");
    }
  }
}
// A verdict that must differ: the same token an hour and a minute later.
const py = JSON.parse(readFileSync(new URL("core/tests/data/interop/pyjwt.json", root)));
const valid = py.tokens.find((t) => t.expect === "valid");
check("pyjwt: valid token, after exp", call(x.verify_token, [JSON.stringify(py.jwks), valid.token, py.issuer, py.resource], BigInt(py.now + 3700), 0), "expired");

console.log(`wasm32 core in Node ${process.version}: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
