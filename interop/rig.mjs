// The interop rig: a real authorization server (npm oidc-provider) and the official MCP
// TypeScript SDK client against mcp-authz front ends, everything on 127.0.0.1.
//
//   node rig.mjs --mcp-authz ../target/debug/mcp-authz --rmcp-server ../target/debug/examples/rmcp_server
//
// Front ends: `mcp-authz proxy` in front of the unprotected rmcp example, and the rmcp example
// protected by the Layer. Scenarios, for each:
//   1. full flow (RS256): 401 -> metadata -> registration -> PKCE -> token -> tools/list -> call;
//      the list hides admin_reset from the mcp:tools token (filtered by the rules)
//   2. the same with ES256 and with EdDSA access tokens
//   3. step-up: the admin tool -> 403 insufficient_scope -> re-authorization -> success; the
//      list now shows it
//  12. (proxy) the same lists with a JSON upstream (the proxy front end's upstream streams SSE)
//  13. (proxy) role rules over Keycloak-, Auth0- and Cognito-shaped claims from oidc-provider;
//      without the role the tool is not listed, and calling it is a 403 the SDK does not answer
//      with a re-authorization
//   4. key rotation at the provider with a session open: new tokens (new key) are accepted
//   5. a token issued for another resource -> 401 invalid_token
//   6. provider unreachable at startup -> refuses to start; provider down later -> keeps working
//   7. fail closed: the admin tool under sub-paths and as a form body never runs
//  11. DPoP (RFC 9449): oidc-provider binds the token to the client's key (a jose-signed proof at
//      the token endpoint); with a fresh proof per call it passes, a replayed proof, a proof for
//      another URI or method, no proof, the token as Bearer, another key's proof are refused
//  10. (proxy) its Prometheus scrape counts the decisions and fetches of the scenarios before
//   9. opaque access tokens (oidc-provider's accessTokenFormat 'opaque'), checked by RFC 7662
//      introspection: the SDK completes the flow; a token revoked at the provider's revocation
//      endpoint is refused once its cache entry (2 s here) expires; an unknown token is refused
// And, against the proxy with two oidc-provider instances (two --metadata-url):
//   8. the SDK completes the flow through either one (each listed first in turn); a token naming
//      one issuer but signed with the other's key, and a token from neither, are refused
// And, against the proxy with --upstream-token-exchange:
//  14. the SDK completes the flow; every request reaches the upstream with a token oidc-provider
//      issued by RFC 8693 token exchange (its registered grant) for the downstream audience, the
//      user as `sub` and the proxy's client as `act`, verified by `mcp-authz verify` with the
//      provider's keys; never the SDK's own token; one exchange for the whole session; a refused
//      exchange is a 502 naming the reason and reaches nothing
// And against an Entra-shaped oidc-provider (no registration, no PKCE methods in its metadata,
// `resource` refused with AADSTS9010010, full-URI scopes, tokens with short `scp`):
//  15. the SDKs' flows (TypeScript, and Python with --python) through the plain proxy fail, as they
//      do against Entra; through the proxy with --as-facade entra they complete (registration,
//      PKCE, authorization relayed through the facade's callback, token) and the tools answer
//  16. the same against an Auth0-shaped oidc-provider (`resource` ignored, a JWT access token
//      only for an `audience`, which MCP clients never send) and --as-facade auth0
// Prints one PASS/FAIL line per scenario and front end, then "N passed, M failed"; every process
// it starts is stopped by PID.

import { spawn } from "node:child_process";
import { createHash, createPrivateKey, randomBytes, sign } from "node:crypto";
import { freePort, waitFor } from "./net.mjs";
import { AUTH0, ENTRA, EXCHANGE_CLIENT, OidcAs, RS_CLIENT, completeForms, generatedJwk } from "./oidc-provider-as.mjs";
import http from "node:http";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile, execFileSync } from "node:child_process";
import { SdkSession } from "./sdk-client.mjs";
import { SignJWT, base64url } from "jose";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const MCP_AUTHZ = arg("--mcp-authz", "../target/debug/mcp-authz");
const RMCP_SERVER = arg("--rmcp-server", "../target/debug/examples/rmcp_server");
// With --lambda, the Lambda example function runs under `cargo lambda watch` as a third front end.
const LAMBDA = process.argv.includes("--lambda");
const LAMBDA_MANIFEST = new URL("../adapter-lambda/examples/lambda-mcp-function/Cargo.toml", import.meta.url).pathname;
const VERBOSE = process.argv.includes("--verbose");
// A Python with the official MCP Python SDK (`pip install mcp`), for scenario 15.
const PYTHON = arg("--python", "python3");
const log = (m) => VERBOSE && console.log(`  ${m}`);

const children = new Set();
const results = [];
const record = (frontEnd, scenario, ok, detail = "") => {
  results.push({ frontEnd, scenario, ok });
  console.log(`${ok ? "PASS" : "FAIL"}: [${frontEnd}] ${scenario}${ok || !detail ? "" : ` (${detail})`}`);
};

function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], detached: true, env: { ...process.env, ...env } });
  child.stderrText = "";
  child.stdout.on("data", (d) => { child.stderrText += d; });
  child.stderr.on("data", (d) => { child.stderrText += d; });
  child.exited = new Promise((resolve) => child.on("exit", (code) => { children.delete(child); resolve(code); }));
  children.add(child);
  return child;
}

// Each child leads its own process group (cargo-lambda starts the function as a grandchild).
async function stop(child) {
  if (!child || child.exitCode !== null) return;
  try { process.kill(-child.pid, "SIGTERM"); } catch { child.kill("SIGTERM"); }
  await Promise.race([child.exited, new Promise((r) => setTimeout(r, 5000))]);
  if (child.exitCode === null) { try { process.kill(-child.pid, "SIGKILL"); } catch {} }
}

// With { introspect: true }, the front ends introspect non-JWT tokens as RS_CLIENT, keeping
// answers 2 s.
// A client's DPoP key, and proofs signed with it by jose.
// Made as `generatedJwk` makes the AS's keys (see there: a Node 20 deadlock).
async function dpopKey() {
  const { d, ...jwk } = generatedJwk("ec", { namedCurve: "P-256" });
  return { privateKey: createPrivateKey({ key: { ...jwk, d }, format: "jwk" }), jwk };
}
async function dpopProof(key, htm, htu, token) {
  const claims = { jti: randomBytes(12).toString("base64url"), htm, htu, iat: Math.floor(Date.now() / 1000) };
  if (token) claims.ath = base64url.encode(createHash("sha256").update(token).digest());
  return new SignJWT(claims).setProtectedHeader({ typ: "dpop+jwt", alg: "ES256", jwk: key.jwk }).sign(key.privateKey);
}

const INTROSPECT_ARGS = ["--introspect", "non-jwt", "--introspection-client-id", RS_CLIENT.id, "--introspection-cache-ttl", "2"];
const SECRET_ENV = { MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET: RS_CLIENT.secret };

// The two front ends: each starts against an issuer and returns the MCP URL and its processes.
const FRONT_ENDS = {
  async proxy(as, { introspect = false, failFast = false } = {}) {
    const [u, p, m] = [await freePort(), await freePort(), await freePort()];
    // This upstream answers with event streams; scenario 12 runs the other response mode.
    const upstream = start(RMCP_SERVER, ["--unprotected", "--sse-responses", "--listen", `127.0.0.1:${u}`]);
    const mcp = `http://127.0.0.1:${p}/mcp`;
    const proxy = start(MCP_AUTHZ, [
      "proxy", "--metadata-url", `${as.issuer}/.well-known/openid-configuration`, "--resource", mcp,
      "--upstream", `http://127.0.0.1:${u}/mcp`, "--listen", `127.0.0.1:${p}`,
      "--scope", "mcp:tools", "--tool-scope", "admin_reset=mcp:admin", "--allow-http-loopback",
      "--metrics-listen", `127.0.0.1:${m}`, "--dpop", "allowed",
      ...(introspect ? INTROSPECT_ARGS : []), ...(failFast ? ["--fail-fast"] : []),
    ], introspect ? SECRET_ENV : {});
    // It listens at once (lazy start); ready once the metadata is validated and the keys loaded.
    await waitFor(`http://127.0.0.1:${p}/readyz`, proxy);
    return { mcp, processes: [upstream, proxy], main: proxy, metrics: `http://127.0.0.1:${m}/metrics` };
  },
  async "rmcp example"(as, { introspect = false } = {}) {
    const r = await freePort();
    const mcp = `http://127.0.0.1:${r}/mcp`;
    const server = start(RMCP_SERVER, [
      "--metadata-url", `${as.issuer}/.well-known/openid-configuration`, "--resource", mcp,
      "--listen", `127.0.0.1:${r}`, "--allow-http-loopback", "--dpop", "allowed", ...(introspect ? INTROSPECT_ARGS : []),
    ], introspect ? SECRET_ENV : {});
    await waitFor(`http://127.0.0.1:${r}/.well-known/oauth-protected-resource/mcp`, server);
    return { mcp, processes: [server], main: server };
  },
};
if (LAMBDA) {
  // The function behind cargo-lambda's Runtime-API emulator (Function-URL events). A function
  // whose cold start fails cannot serve: its first invocation errors instead of "not starting".
  FRONT_ENDS["lambda (cargo-lambda emulator)"] = async (as, { introspect = false } = {}) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}/lambda-url/lambda_mcp`;
    const introspection = introspect
      ? ["MCP_AUTHZ_INTROSPECT=non-jwt", `MCP_AUTHZ_INTROSPECTION_CLIENT_ID=${RS_CLIENT.id}`,
        `MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET=${RS_CLIENT.secret}`, "MCP_AUTHZ_INTROSPECTION_CACHE_TTL=2"]
      : [];
    const watch = start("cargo", [
      "lambda", "watch", "--manifest-path", LAMBDA_MANIFEST, "--invoke-address", "127.0.0.1", "--invoke-port", String(port),
      "--env-var", [`MCP_AUTHZ_METADATA_URL=${as.issuer}/.well-known/openid-configuration`, "MCP_AUTHZ_ALLOW_HTTP_LOOPBACK=1",
        `MCP_AUTHZ_PUBLIC_BASE_URL=${base}`, "MCP_AUTHZ_DPOP=allowed", ...introspection].join(","),
    ]);
    const metadata = `${base}/.well-known/oauth-protected-resource/lambda-url/lambda_mcp/mcp`;
    const deadline = Date.now() + 600_000;
    while (Date.now() < deadline) {
      // The emulator holds a request while the function is down: poll with a timeout, and read
      // the function's own exit (it prints why) from the emulator's output.
      const failed = watch.stderrText.match(/^Error: .*$/m);
      if (failed && /command exited code=[1-9]/.test(watch.stderrText)) {
        await stop(watch);
        throw new Error(`exited 1: the function refused its cold start: ${failed[0].slice(0, 200)}`);
      }
      try {
        const r = await fetch(metadata, { signal: AbortSignal.timeout(3000) });
        if (r.status === 200) return { mcp: `${base}/mcp`, processes: [watch], main: watch };
      } catch {}
      await new Promise((r) => setTimeout(r, 500));
    }
    await stop(watch);
    throw new Error("the emulator never served the function");
  };
}

// The SDK's whole flow; with `filtered`, the list must hide admin_reset from the first token
// (mcp:tools), which may not call it; without, list it.
async function fullFlow(mcp, { stepUp = true, filtered = true } = {}) {
  const session = new SdkSession(mcp, { completeForms, log });
  await session.connect();
  const tools = await session.tools();
  if (!tools.includes("whoami") || tools.includes("admin_reset") === filtered) throw new Error(`tools: ${tools}`);
  const who = await session.call("whoami");
  if (!/subject=\S+/.test(who) || who.includes("subject=-")) throw new Error(`whoami: ${who}`);
  if (stepUp) {
    const before = session.provider.authorizations;
    const out = await session.call("admin_reset");
    if (!out.startsWith("reset done")) throw new Error(`admin_reset: ${out}`);
    if (session.provider.authorizations !== before + 1) throw new Error("no re-authorization for the step-up");
    const after = await session.tools();
    if (!after.includes("admin_reset")) throw new Error(`not listed after the step-up: ${after}`);
  }
  return session;
}

function decodeHeader(token) {
  return JSON.parse(Buffer.from(token.split(".")[0], "base64url").toString());
}

// The authorization-code flow with PKCE, without the SDK, for a chosen resource.
async function tokenFor(as, resource, scope = "mcp:tools") {
  return (await grantFor(as, resource, scope)).token;
}

// The same, returning the token and the client it was issued to; with `dpop`, the token request
// carries a DPoP proof of that key, and the token is bound to it.
async function grantFor(as, resource, scope = "mcp:tools", dpop = null) {
  const meta = await (await fetch(`${as.issuer}/.well-known/openid-configuration`)).json();
  const redirect = "http://127.0.0.1:1/cb";
  const reg = await (await fetch(meta.registration_endpoint, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [redirect], token_endpoint_auth_method: "none", grant_types: ["authorization_code"], response_types: ["code"] }),
  })).json();
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  const auth = new URL(meta.authorization_endpoint);
  for (const [k, v] of Object.entries({ response_type: "code", client_id: reg.client_id, redirect_uri: redirect, scope, resource,
    code_challenge: challenge, code_challenge_method: "S256", state: "s" })) auth.searchParams.set(k, v);
  const back = new URL(await completeForms(auth, redirect));
  const code = back.searchParams.get("code");
  const tokenHeaders = { "content-type": "application/x-www-form-urlencoded" };
  if (dpop) tokenHeaders.dpop = await dpopProof(dpop, "POST", meta.token_endpoint);
  const res = await fetch(meta.token_endpoint, {
    method: "POST", headers: tokenHeaders,
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirect, client_id: reg.client_id, code_verifier: verifier, resource }),
  });
  const body = await res.json();
  if (!body.access_token) throw new Error(`token: ${JSON.stringify(body)}`);
  return { token: body.access_token, clientId: reg.client_id, meta };
}

async function callWith(mcp, token, { scheme = "Bearer", proof } = {}) {
  const headers = { authorization: `${scheme} ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" };
  if (proof) headers.dpop = proof;
  const res = await fetch(mcp, {
    method: "POST",
    headers,
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "whoami", arguments: {} } }),
  });
  return { status: res.status, www: res.headers.get("www-authenticate") ?? "" };
}

async function scenario(frontEnd, name, fn) {
  try {
    await fn();
    record(frontEnd, name, true);
  } catch (e) {
    record(frontEnd, name, false, e.message ?? String(e));
  }
}

async function runFrontEnd(name, make) {
  // 1, 3, 4, 5, 6b with RS256.
  const as = new OidcAs({ port: await freePort(), alg: "RS256", log });
  await as.start();
  const fe = await make(as);
  let session;
  await scenario(name, "1. full flow (RS256)", async () => { session = await fullFlow(fe.mcp, { stepUp: false }); });
  await scenario(name, "3. step-up after 403 insufficient_scope", async () => {
    const before = session.provider.authorizations;
    const out = await session.call("admin_reset");
    if (!out.startsWith("reset done")) throw new Error(out);
    if (session.provider.authorizations !== before + 1) throw new Error("no re-authorization");
    // The new token may call admin_reset: now it is listed.
    const after = await session.tools();
    if (!after.includes("admin_reset")) throw new Error(`not listed after the step-up: ${after}`);
  });
  if (name === "proxy") {
    await scenario(name, "13. role rules with Keycloak-, Auth0- and Cognito-shaped claims; a refusal no scope fixes is not a re-authorization", async () => {
      const meta = `${as.issuer}/.well-known/openid-configuration`;
      const rules = await startProxy([meta], ["--role-claim", "keycloak", "--role-claim", "auth0", "--role-claim", "cognito",
        "--tool-rule", "admin_reset role=deployer"]);
      try {
        for (const claims of [{ realm_access: { roles: ["offline_access", "deployer"] } }, { permissions: ["read:x", "deployer"] },
          { "cognito:groups": ["deployer"] }]) {
          as.claims = claims;
          const s = new SdkSession(rules.mcp, { completeForms, log });
          await s.connect();
          const tools = await s.tools();
          if (!tools.includes("admin_reset")) throw new Error(`${Object.keys(claims)[0]}: not listed: ${tools}`);
          const out = await s.call("admin_reset");
          if (!out.startsWith("reset done")) throw new Error(`${Object.keys(claims)[0]}: ${out}`);
          await s.close();
        }
        as.claims = { realm_access: { roles: ["viewer"] } };
        const s = new SdkSession(rules.mcp, { completeForms, log });
        await s.connect();
        const tools = await s.tools();
        if (tools.includes("admin_reset")) throw new Error(`listed without the role: ${tools}`);
        const before = s.provider.authorizations;
        let refused = null;
        try { await s.call("admin_reset"); } catch (e) { refused = e; }
        if (!refused) throw new Error("admin_reset ran without the role");
        if (!String(refused.message ?? refused).includes(`"remediation":"unavailable"`)) throw new Error(`refused how? ${refused.message ?? refused}`);
        if (s.provider.authorizations !== before) throw new Error("the SDK re-authorized after a refusal no scope fixes");
        await s.close();
      } finally {
        as.claims = {};
        for (const p of rules.processes) await stop(p);
      }
    });
    await scenario(name, "12. lists per token through the proxy with a JSON upstream (the front end's is SSE)", async () => {
      const json = await startProxy([`${as.issuer}/.well-known/openid-configuration`], ["--tool-scope", "admin_reset=mcp:admin"]);
      try {
        const s = await fullFlow(json.mcp, { stepUp: true });
        await s.close();
      } finally {
        for (const p of json.processes) await stop(p);
      }
    });
  }
  await scenario(name, "4. key rotation with a session open", async () => {
    const newKid = await as.rotate();
    // The open session's token (old key, still published) keeps working.
    await session.call("whoami");
    // A new token is signed with the new key and accepted without restarting anything.
    const token = await tokenFor(as, fe.mcp);
    if (decodeHeader(token).kid !== newKid) throw new Error(`signed with ${decodeHeader(token).kid}, expected ${newKid}`);
    const { status } = await callWith(fe.mcp, token);
    if (status !== 200) throw new Error(`status ${status}`);
  });
  await scenario(name, "5. token for another resource -> 401 invalid_token", async () => {
    const token = await tokenFor(as, "http://127.0.0.1:1/other-mcp");
    const { status, www } = await callWith(fe.mcp, token);
    if (status !== 401 || !www.includes('error="invalid_token"')) throw new Error(`${status} ${www}`);
  });
  await scenario(name, "11. DPoP-bound token: its proof passes; replayed, elsewhere, another method, no proof, Bearer, another key refused", async () => {
    const key = await dpopKey();
    const { token } = await grantFor(as, fe.mcp, "mcp:tools", key);
    const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
    if (!claims.cnf?.jkt) throw new Error("the provider did not bind the token");
    const proof = await dpopProof(key, "POST", fe.mcp, token);
    const ok = await callWith(fe.mcp, token, { scheme: "DPoP", proof });
    if (ok.status !== 200) throw new Error(`with its proof: ${ok.status} ${ok.www}`);
    const again = await callWith(fe.mcp, token, { scheme: "DPoP", proof });
    if (again.status !== 401 || !again.www.includes('error="invalid_dpop_proof"')) throw new Error(`replayed: ${again.status} ${again.www}`);
    const other = await callWith(fe.mcp, token, { scheme: "DPoP", proof: await dpopProof(key, "POST", "http://127.0.0.1:1/mcp", token) });
    if (other.status !== 401) throw new Error(`elsewhere: ${other.status}`);
    const method = await callWith(fe.mcp, token, { scheme: "DPoP", proof: await dpopProof(key, "GET", fe.mcp, token) });
    if (method.status !== 401) throw new Error(`another method: ${method.status}`);
    const noProof = await callWith(fe.mcp, token, { scheme: "DPoP" });
    if (noProof.status !== 401 || !noProof.www.includes('error="invalid_dpop_proof"')) throw new Error(`no proof: ${noProof.status} ${noProof.www}`);
    const bearer = await callWith(fe.mcp, token);
    if (bearer.status !== 401) throw new Error(`as Bearer: ${bearer.status}`);
    const stolenKey = await dpopKey();
    const stolen = await callWith(fe.mcp, token, { scheme: "DPoP", proof: await dpopProof(stolenKey, "POST", fe.mcp, token) });
    if (stolen.status !== 401 || !stolen.www.includes('error="invalid_token"')) throw new Error(`another key: ${stolen.status} ${stolen.www}`);
  });
  await scenario(name, "7. fail closed: admin_reset under sub-paths and as a form never runs", async () => {
    const basic = await tokenFor(as, fe.mcp);
    const call = JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "admin_reset", arguments: {} } });
    const attempts = [];
    for (const suffix of ["/", "/x", "//"]) {
      attempts.push({ url: fe.mcp + suffix, auth: null, type: "application/json", want: [401, 404] });
      attempts.push({ url: fe.mcp + suffix, auth: basic, type: "application/json", want: [403, 404] });
    }
    attempts.push({ url: fe.mcp, auth: basic, type: "application/x-www-form-urlencoded", want: [415] });
    attempts.push({ url: fe.mcp, auth: basic, type: "text/plain", want: [415] });
    for (const a of attempts) {
      const headers = { "content-type": a.type, accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" };
      if (a.auth) headers.authorization = `Bearer ${a.auth}`;
      const res = await fetch(a.url, { method: "POST", headers, body: call });
      const text = await res.text();
      if (text.includes("reset done") || !a.want.includes(res.status)) {
        throw new Error(`${a.url} (${a.type}, ${a.auth ? "mcp:tools" : "no token"}): ${res.status} ${text.slice(0, 120)}`);
      }
    }
  });
  if (fe.metrics) {
    await scenario(name, "10. the Prometheus scrape counts what happened", async () => {
      const text = await (await fetch(fe.metrics)).text();
      const { writeFileSync } = await import("node:fs");
      const { tmpdir } = await import("node:os");
      const file = `${tmpdir()}/mcp-authz-interop-scrape.txt`;
      writeFileSync(file, text);
      log(`scrape saved to ${file}`);
      const sum = (name, ...labels) => text.split("\n")
        .filter((l) => l.startsWith(`${name}{`) && labels.every((x) => l.includes(x)))
        .reduce((n, l) => n + Number(l.split(" ").pop()), 0);
      const allowed = sum("mcp_authz_decisions_total", 'outcome="allow"');
      const refused = sum("mcp_authz_decisions_total", 'outcome="reject"', 'status="401"');
      const forbidden = sum("mcp_authz_decisions_total", 'reason="insufficient_scope"');
      const fetches = sum("mcp_authz_jwks_fetches_total", 'result="ok"');
      if (allowed < 5 || refused < 2 || forbidden < 1 || fetches < 2) {
        throw new Error(`allow ${allowed}, 401 ${refused}, 403 ${forbidden}, JWKS fetches ${fetches}`);
      }
    });
  }
  await scenario(name, "6. provider down after startup -> cached keys keep working", async () => {
    await as.stop();
    await session.call("whoami");
    const { status } = await callWith(fe.mcp, await Promise.resolve(session.provider.tokens().access_token));
    if (status !== 200) throw new Error(`status ${status}`);
  });
  await session?.close().catch(() => {});
  for (const p of fe.processes) await stop(p);

  await scenario(name, "6. provider unreachable at startup -> refuses to start (the proxy: with --fail-fast)", async () => {
    const dead = { issuer: `http://127.0.0.1:${await freePort()}` };
    let started;
    try {
      started = await make(dead, { failFast: true });
    } catch (e) {
      if (!/exited [1-9]/.test(e.message)) throw e;
      if (!/(cannot fetch|refus|not starting|Fetch|error)/i.test(e.message)) throw new Error(`unclear message: ${e.message}`);
      return;
    }
    for (const p of started.processes) await stop(p);
    throw new Error("it started");
  });

  // 9. Opaque access tokens, introspected.
  const as9 = new OidcAs({ port: await freePort(), opaque: true, log });
  await as9.start();
  const fe9 = await make(as9, { introspect: true });
  await scenario(name, "9. opaque tokens: SDK flow by introspection; revoked -> refused after the cache entry", async () => {
    const s = await fullFlow(fe9.mcp, { stepUp: false });
    const sdkToken = s.provider.tokens().access_token;
    await s.close();
    if (sdkToken.split(".").length === 3) throw new Error("the provider issued a JWT, not an opaque token");
    const { token, clientId, meta } = await grantFor(as9, fe9.mcp);
    if ((await callWith(fe9.mcp, token)).status !== 200) throw new Error("a fresh opaque token was refused");
    const revoked = await fetch(meta.revocation_endpoint, {
      method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token, token_type_hint: "access_token", client_id: clientId }),
    });
    if (revoked.status !== 200) throw new Error(`revocation: ${revoked.status} ${await revoked.text()}`);
    await new Promise((r) => setTimeout(r, 3200));
    const after = await callWith(fe9.mcp, token);
    if (after.status !== 401 || !after.www.includes('error="invalid_token"')) throw new Error(`revoked: ${after.status} ${after.www}`);
    const unknown = await callWith(fe9.mcp, "not-a-token-anyone-issued");
    if (unknown.status !== 401) throw new Error(`unknown: ${unknown.status}`);
  });
  for (const p of fe9.processes) await stop(p);
  await as9.stop();

  // 2. ES256 and EdDSA access tokens, fresh stacks.
  for (const alg of ["ES256", "EdDSA"]) {
    const as2 = new OidcAs({ port: await freePort(), alg, log });
    await as2.start();
    const fe2 = await make(as2);
    await scenario(name, `2. full flow with ${alg} access tokens`, async () => {
      const s = await fullFlow(fe2.mcp, { stepUp: false });
      const got = decodeHeader(s.provider.tokens().access_token).alg;
      await s.close();
      if (got !== alg) throw new Error(`token alg ${got}`);
    });
    for (const p of fe2.processes) await stop(p);
    await as2.stop();
  }
}

// A JWS of `payload` under `header`, signed RS256 with the private JWK `jwk`.
function signRs256(header, payload, jwk) {
  const input = `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}`;
  const sig = sign("sha256", Buffer.from(input), createPrivateKey({ key: jwk, format: "jwk" }));
  return `${input}.${sig.toString("base64url")}`;
}

async function startProxy(metadataUrls, extra = []) {
  const [u, p] = [await freePort(), await freePort()];
  const upstream = start(RMCP_SERVER, ["--unprotected", "--listen", `127.0.0.1:${u}`]);
  const mcp = `http://127.0.0.1:${p}/mcp`;
  const proxy = start(MCP_AUTHZ, [
    "proxy", ...metadataUrls.flatMap((m) => ["--metadata-url", m]), "--resource", mcp,
    "--upstream", `http://127.0.0.1:${u}/mcp`, "--listen", `127.0.0.1:${p}`,
    "--scope", "mcp:tools", "--allow-http-loopback", ...extra,
  ]);
  await waitFor(`http://127.0.0.1:${p}/readyz`, proxy);
  return { mcp, processes: [upstream, proxy] };
}

// 8. Two authorization servers behind one proxy.
async function runTwoIssuers() {
  const name = "proxy, two authorization servers";
  const a = new OidcAs({ port: await freePort(), alg: "RS256", log });
  const b = new OidcAs({ port: await freePort(), alg: "RS256", log });
  await a.start();
  await b.start();
  const meta = (as) => `${as.issuer}/.well-known/openid-configuration`;
  for (const [first, second] of [[a, b], [b, a]]) {
    const fe = await startProxy([meta(first), meta(second)]);
    await scenario(name, `8. SDK flow through the first listed (${first === a ? "A" : "B"})`, async () => {
      const prm = await (await fetch(fe.mcp.replace("/mcp", "/.well-known/oauth-protected-resource/mcp"))).json();
      if (JSON.stringify(prm.authorization_servers) !== JSON.stringify([first.issuer, second.issuer])) {
        throw new Error(`authorization_servers ${JSON.stringify(prm.authorization_servers)}`);
      }
      // No rule names a tool here: the list is not filtered.
      const s = await fullFlow(fe.mcp, { stepUp: false, filtered: false });
      const iss = JSON.parse(Buffer.from(s.provider.tokens().access_token.split(".")[1], "base64url")).iss;
      await s.close();
      if (iss !== first.issuer) throw new Error(`the SDK's token came from ${iss}`);
      // The other server's tokens pass too.
      const { status } = await callWith(fe.mcp, await tokenFor(second, fe.mcp));
      if (status !== 200) throw new Error(`a token from the second server: ${status}`);
    });
    if (first === a) {
      await scenario(name, "8. a token naming A signed with B's key, and one from neither -> 401", async () => {
        const real = await tokenFor(b, fe.mcp);
        const [h, p] = real.split(".").slice(0, 2).map((x) => JSON.parse(Buffer.from(x, "base64url")));
        const signer = b.keys.find((k) => k.kid === h.kid);
        if (!signer) throw new Error(`no private key for ${h.kid}`);
        // B's own token, re-signed by B: still accepted (the signing helper is right) ...
        const resigned = signRs256(h, p, signer);
        if ((await callWith(fe.mcp, resigned)).status !== 200) throw new Error("B's re-signed token was refused");
        // ... but naming A, it is verified with A's keys alone.
        const forged = signRs256(h, { ...p, iss: a.issuer }, signer);
        const r1 = await callWith(fe.mcp, forged);
        if (r1.status !== 401 || !r1.www.includes('error="invalid_token"')) throw new Error(`forged: ${r1.status} ${r1.www}`);
        const stranger = signRs256(h, { ...p, iss: "http://127.0.0.1:1" }, signer);
        const r2 = await callWith(fe.mcp, stranger);
        if (r2.status !== 401 || !r2.www.includes("issuer is not trusted")) throw new Error(`stranger: ${r2.status} ${r2.www}`);
      });
    }
    for (const p of fe.processes) await stop(p);
  }
  await a.stop();
  await b.stop();
}

// A tap in front of an upstream MCP server: records each request's Authorization header, then
// forwards the request and returns the answer.
async function tap(upstream) {
  const seen = [];
  const port = await freePort();
  const server = http.createServer(async (req, res) => {
    seen.push(req.headers.authorization ?? null);
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const headers = { ...req.headers };
    delete headers.host;
    delete headers["content-length"];
    const body = ["GET", "HEAD"].includes(req.method) ? undefined : Buffer.concat(chunks);
    const answer = await fetch(upstream, { method: req.method, headers, body });
    const out = Buffer.from(await answer.arrayBuffer());
    const keep = {};
    for (const [k, v] of answer.headers) if (!["content-length", "content-encoding", "transfer-encoding", "connection"].includes(k)) keep[k] = v;
    res.writeHead(answer.status, keep).end(out);
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${port}/mcp`, seen, close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }) };
}

// 14. The upstream's own token, by RFC 8693 token exchange at oidc-provider.
async function runTokenExchange() {
  const name = "proxy, token exchange";
  const downstream = "https://api.example.com";
  const as = new OidcAs({ port: await freePort(), alg: "ES256", log });
  await as.start();
  const [u, p] = [await freePort(), await freePort()];
  const upstream = start(RMCP_SERVER, ["--unprotected", "--listen", `127.0.0.1:${u}`]);
  const t = await tap(`http://127.0.0.1:${u}/mcp`);
  const mcp = `http://127.0.0.1:${p}/mcp`;
  const proxy = start(MCP_AUTHZ, [
    "proxy", "--metadata-url", `${as.issuer}/.well-known/openid-configuration`, "--resource", mcp,
    "--upstream", t.url, "--listen", `127.0.0.1:${p}`, "--scope", "mcp:tools", "--allow-http-loopback",
    "--upstream-token-exchange", "--exchange-audience", downstream, "--exchange-client-id", EXCHANGE_CLIENT.id,
  ], { MCP_AUTHZ_EXCHANGE_CLIENT_SECRET: EXCHANGE_CLIENT.secret });
  await waitFor(`http://127.0.0.1:${p}/readyz`, proxy);
  await scenario(name, "14. the upstream gets a token exchanged for the user's (RFC 8693 at oidc-provider), once per session; never the client's", async () => {
    const s = await fullFlow(mcp, { stepUp: false, filtered: false });
    const sdkToken = s.provider.tokens().access_token;
    await s.close();
    const user = JSON.parse(Buffer.from(sdkToken.split(".")[1], "base64url")).sub;
    if (t.seen.length < 3) throw new Error(`the upstream saw ${t.seen.length} requests`);
    const tokens = new Set(t.seen.map((a) => (a ?? "").replace(/^Bearer /, "")));
    if (tokens.size !== 1 || tokens.has("") || tokens.has(sdkToken)) throw new Error(`upstream Authorization: ${[...tokens].map((x) => x.slice(0, 12))}`);
    if (as.exchanges !== 1) throw new Error(`${as.exchanges} exchanges for one session`);
    const [exchanged] = tokens;
    // The downstream API's own check, by mcp-authz-core: the provider's keys, its audience.
    const dir = mkdtempSync(join(tmpdir(), "mcp-authz-exchange-"));
    const jwks = join(dir, "jwks.json");
    const meta = await (await fetch(`${as.issuer}/.well-known/openid-configuration`)).json();
    writeFileSync(jwks, await (await fetch(meta.jwks_uri)).text());
    const verdict = JSON.parse(execFileSync(MCP_AUTHZ, ["verify", "--jwks", jwks, "--issuer", as.issuer, "--resource", downstream, exchanged]).toString());
    if (verdict.valid !== true) throw new Error(`mcp-authz verify: ${JSON.stringify(verdict)}`);
    const claims = JSON.parse(Buffer.from(exchanged.split(".")[1], "base64url"));
    if (claims.sub !== user || claims.aud !== downstream || claims.act?.sub !== EXCHANGE_CLIENT.id) {
      throw new Error(`claims ${JSON.stringify(claims)}`);
    }
    // The provider refuses: 502 with the reason, nothing reaches the upstream.
    as.refuseExchange = true;
    const before = t.seen.length;
    const other = await tokenFor(as, mcp);
    const res = await fetch(mcp, {
      method: "POST",
      headers: { authorization: `Bearer ${other}`, "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "whoami", arguments: {} } }),
    });
    const body = await res.json();
    if (res.status !== 502 || body.reason !== "exchange_invalid_grant") throw new Error(`refused: ${res.status} ${JSON.stringify(body)}`);
    if (t.seen.length !== before) throw new Error("a refused exchange reached the upstream");
  });
  await stop(proxy);
  await stop(upstream);
  await t.close();
  await as.stop();
}

// 15 and 16. A provider shaped as Entra ID or as Auth0, without and with the facade.
const SHAPES = {
  entra: {
    n: 15, label: "Entra", profile: "entra", clientId: ENTRA.clientId, scope: "mcp.tools", audience: ENTRA.apiUri,
    // As the Entra row of docs/providers.md says: no registration endpoint to offer.
    plainArgs: ["--allow-missing-registration"],
    facadeArgs: ["--facade-api-uri", ENTRA.apiUri],
    claims: (c, as) => c.iss === as.issuer && c.aud === ENTRA.apiUri && c.scp === "mcp.tools" && c.scope === undefined,
  },
  auth0: {
    n: 16, label: "Auth0", profile: "auth0", clientId: AUTH0.clientId, scope: "mcp:tools", audience: AUTH0.audience,
    plainArgs: [],
    facadeArgs: ["--facade-audience", AUTH0.audience],
    claims: (c, as) => c.iss === as.issuer && c.aud === AUTH0.audience && c.scope === "mcp:tools",
  },
};

async function runFacade(shape) {
  const { n, label, profile } = shape;
  const name = `proxy, ${label}-shaped provider`;
  const [u, p, q] = [await freePort(), await freePort(), await freePort()];
  const facadeIssuer = `http://127.0.0.1:${p}/facade/${profile}`;
  const as = new OidcAs({ port: await freePort(), alg: "RS256", log, [profile]: { redirectUri: `${facadeIssuer}/callback` } });
  await as.start();
  const upstream = start(RMCP_SERVER, ["--unprotected", "--listen", `127.0.0.1:${u}`]);
  const proxyAt = async (port, extra) => {
    const mcp = `http://127.0.0.1:${port}/mcp`;
    const proxy = start(MCP_AUTHZ, [
      "proxy", "--metadata-url", `${as.issuer}/.well-known/openid-configuration`, "--resource", mcp,
      "--upstream", `http://127.0.0.1:${u}/mcp`, "--listen", `127.0.0.1:${port}`, "--scope", shape.scope,
      "--audience", shape.audience, "--allow-http-loopback", ...extra,
    ]);
    await waitFor(`http://127.0.0.1:${port}/readyz`, proxy);
    return { mcp, proxy };
  };
  // Asynchronously: the authorization server runs in this process, so the event loop must go on.
  const python = (mcp) => new Promise((resolve) => {
    execFile(PYTHON, [new URL("./python-sdk-flow.py", import.meta.url).pathname, mcp], { timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ ok: !err, out: `${stdout}${stderr}${err ? ` (${err.code ?? ""}${err.signal ? ` ${err.signal}` : ""})` : ""}` });
    });
  });
  const plain = await proxyAt(q, shape.plainArgs);
  await scenario(name, `${n}. without the facade the TypeScript SDK cannot complete the flow (as against ${label})`, async () => {
    let failed = false;
    try {
      const s = await fullFlow(plain.mcp, { stepUp: false, filtered: false });
      await s.close();
    } catch (e) {
      failed = true;
      log(`without the facade: ${e.message ?? e}`);
    }
    if (!failed) throw new Error(`the SDK completed the flow against a ${label}-shaped provider`);
  });
  await scenario(name, `${n}. without the facade the Python SDK cannot complete the flow either`, async () => {
    const r = await python(plain.mcp);
    log(`python without the facade: ${r.out.split("\n").find((l) => l.includes("flow failed")) ?? r.out.slice(-200)}`);
    if (r.ok) throw new Error(`the Python SDK completed the flow: ${r.out}`);
    if (!r.out.includes("python SDK flow failed") || r.out.includes("TimeoutError")) throw new Error(`the Python SDK did not fail on its own: ${r.out.slice(-300)}`);
  });
  await stop(plain.proxy);
  const facade = await proxyAt(p, [
    "--as-facade", profile, "--facade-client-id", shape.clientId, ...shape.facadeArgs,
    "--facade-redirect-uri", "http://127.0.0.1/callback",
  ]);
  await scenario(name, `${n}. with --as-facade ${profile} the TypeScript SDK completes the flow and the tools answer`, async () => {
    const prm = await (await fetch(facade.mcp.replace("/mcp", "/.well-known/oauth-protected-resource/mcp"))).json();
    if (JSON.stringify(prm.authorization_servers) !== JSON.stringify([facadeIssuer])) {
      throw new Error(`authorization_servers ${JSON.stringify(prm.authorization_servers)}`);
    }
    const s = await fullFlow(facade.mcp, { stepUp: false, filtered: false });
    const token = s.provider.tokens().access_token;
    await s.close();
    const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url"));
    if (!shape.claims(claims, as)) throw new Error(`token claims ${JSON.stringify(claims)}`);
  });
  await scenario(name, `${n}. with --as-facade ${profile} the Python SDK completes the flow too`, async () => {
    const r = await python(facade.mcp);
    if (!r.ok) throw new Error(r.out.slice(-600) || "no output");
    const got = JSON.parse(r.out.trim().split("\n").pop());
    if (!got.tools.includes("whoami") || !/subject=\S+/.test(got.whoami)) throw new Error(r.out);
  });
  await stop(facade.proxy);
  await stop(upstream);
  await as.stop();
}

const started = Date.now();
try {
  for (const [name, make] of Object.entries(FRONT_ENDS)) await runFrontEnd(name, make);
  await runTwoIssuers();
  await runTokenExchange();
  await runFacade(SHAPES.entra);
  await runFacade(SHAPES.auth0);
} finally {
  for (const c of [...children]) await stop(c);
}
const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`interop rig: ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
