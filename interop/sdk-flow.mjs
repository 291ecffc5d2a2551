// The official MCP TypeScript SDK client against an mcp-authz-protected MCP server:
// 401 -> discovery -> registration -> PKCE -> token -> tools/list -> tools/call, then the tool
// that needs an extra scope: 403 insufficient_scope -> the SDK re-authorizes -> the call succeeds.
//
//   node sdk-flow.mjs http://127.0.0.1:9401/mcp
//
// Prints one line per step; exits non-zero on the first failure.

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { HeadlessProvider } from "./headless-oauth.mjs";

const mcpUrl = new URL(process.argv[2] ?? "http://127.0.0.1:9401/mcp");
const adminTool = process.argv[3] ?? "admin_reset";
const step = (s) => console.log(`step: ${s}`);

// Log every HTTP exchange the SDK makes (method, URL without query, status).
const fetchLogged = async (input, init) => {
  const res = await fetch(input, init);
  const u = new URL(typeof input === "string" ? input : input.url ?? input.href);
  console.log(`http: ${init?.method ?? "GET"} ${u.origin}${u.pathname} -> ${res.status}`);
  return res;
};

const provider = new HeadlessProvider({ log: (m) => step(m) });
const newTransport = () => new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider, fetch: fetchLogged });

async function withAuth(what, transport, fn) {
  try {
    return await fn();
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
    step(`${what}: authorization needed, completing it headlessly`);
    await transport.finishAuth(provider.pendingCode);
    return await fn();
  }
}

const client = new Client({ name: "mcp-authz-interop", version: "1.0.0" });
let transport = newTransport();
try {
  await client.connect(transport);
} catch (e) {
  if (!(e instanceof UnauthorizedError)) throw e;
  step("connect: 401, OAuth flow ran up to the redirect");
  await transport.finishAuth(provider.pendingCode);
  transport = newTransport();
  await client.connect(transport);
}
step("connected");

const tools = await client.listTools();
const names = tools.tools.map((t) => t.name).sort();
step(`tools/list: ${names.join(", ")}`);
if (!names.includes("whoami") || !names.includes(adminTool)) throw new Error(`unexpected tools ${names}`);

const who = await client.callTool({ name: "whoami", arguments: {} });
const whoText = who.content?.[0]?.text ?? "";
step(`tools/call whoami: ${whoText}`);
if (!whoText.includes("subject=")) throw new Error("whoami did not report a subject");

const before = provider.authorizations;
const admin = await withAuth("step-up", transport, () => client.callTool({ name: adminTool, arguments: {} }));
const adminText = admin.content?.[0]?.text ?? "";
step(`tools/call ${adminTool}: ${adminText}`);
if (admin.isError) throw new Error(`${adminTool} failed: ${adminText}`);
if (provider.authorizations !== before + 1) throw new Error("expected exactly one re-authorization for the step-up");
if (!(provider.tokens()?.scope ?? "").split(" ").includes("mcp:admin")) throw new Error("the new token lacks mcp:admin");

await client.close();
console.log("result: OK");
