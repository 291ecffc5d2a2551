// The official MCP TypeScript SDK client against an mcp-authz-protected MCP server:
// 401 -> discovery -> registration -> PKCE -> token -> tools/list -> tools/call, then the tool
// that needs an extra scope: 403 insufficient_scope -> the SDK re-authorizes -> the call succeeds.
// Lists are filtered by the rules: the tool that needs the extra scope is listed only after the
// step-up.
//
//   node sdk-flow.mjs http://127.0.0.1:9401/mcp [admin_tool]
//
// Prints one line per step; exits non-zero on the first failure.

import { SdkSession } from "./sdk-client.mjs";

const mcpUrl = process.argv[2] ?? "http://127.0.0.1:9401/mcp";
const adminTool = process.argv[3] ?? "admin_reset";
const step = (s) => console.log(s.startsWith("http: ") ? s : `step: ${s}`);

const session = new SdkSession(mcpUrl, { log: step, logHttp: true });
await session.connect();
const names = await session.tools();
step(`tools/list: ${names.join(", ")}`);
if (!names.includes("whoami")) throw new Error(`unexpected tools ${names}`);
if (names.includes(adminTool)) throw new Error(`${adminTool} listed to a token that may not call it`);
const whoText = await session.call("whoami");
step(`tools/call whoami: ${whoText}`);
if (!whoText.includes("subject=")) throw new Error("whoami did not report a subject");
const before = session.provider.authorizations;
const adminText = await session.call(adminTool);
step(`tools/call ${adminTool}: ${adminText}`);
if (session.provider.authorizations !== before + 1) throw new Error("expected exactly one re-authorization for the step-up");
if (!(session.provider.tokens()?.scope ?? "").split(" ").includes("mcp:admin")) throw new Error("the new token lacks mcp:admin");
const after = await session.tools();
step(`tools/list after the step-up: ${after.join(", ")}`);
if (!after.includes(adminTool)) throw new Error(`${adminTool} not listed after the step-up`);
await session.close();
console.log("result: OK");
