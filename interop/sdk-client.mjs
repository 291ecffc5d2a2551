// The official MCP TypeScript SDK client, driven headlessly: connect (running the OAuth flow when
// the server answers 401), list tools, call one, and call a tool that needs more scope (the SDK
// re-authorizes after the 403 insufficient_scope).

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { HeadlessProvider } from "./headless-oauth.mjs";

export class SdkSession {
  constructor(mcpUrl, { completeForms, log = () => {}, logHttp = false } = {}) {
    this.url = new URL(mcpUrl);
    this.log = log;
    this.provider = new HeadlessProvider({ completeForms, log });
    this.fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (logHttp) {
        const u = new URL(typeof input === "string" ? input : input.url ?? input.href);
        log(`http: ${init?.method ?? "GET"} ${u.origin}${u.pathname} -> ${res.status}`);
      }
      return res;
    };
  }

  newTransport() {
    return new StreamableHTTPClientTransport(this.url, { authProvider: this.provider, fetch: this.fetch });
  }

  async withAuth(what, fn) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof UnauthorizedError)) throw e;
      this.log(`${what}: authorization needed, completing it headlessly`);
      await this.transport.finishAuth(this.provider.pendingCode);
      return await fn();
    }
  }

  async connect() {
    this.client = new Client({ name: "mcp-authz-interop", version: "1.0.0" });
    this.transport = this.newTransport();
    try {
      await this.client.connect(this.transport);
    } catch (e) {
      if (!(e instanceof UnauthorizedError)) throw e;
      this.log("connect: 401, OAuth flow ran up to the redirect");
      await this.transport.finishAuth(this.provider.pendingCode);
      this.transport = this.newTransport();
      await this.client.connect(this.transport);
    }
    this.log("connected");
  }

  async tools() {
    const tools = await this.client.listTools();
    return tools.tools.map((t) => t.name).sort();
  }

  async call(name) {
    const r = await this.withAuth(`tools/call ${name}`, () => this.client.callTool({ name, arguments: {} }));
    const text = r.content?.[0]?.text ?? "";
    if (r.isError) throw new Error(`${name} failed: ${text}`);
    return text;
  }

  async close() {
    await this.client?.close();
  }
}
