// A minimal MCP server of revision 2026-07-28 (stateless Streamable HTTP: every request its own
// POST with its `_meta`, no `initialize`, no session), on 127.0.0.1, for the conformance rig's
// header scenarios. It has a tool whose `region` argument is mirrored into `Mcp-Param-Region`
// (`x-mcp-header`), and on purpose it checks NO request header against the body: what the
// header scenarios measure through `mcp-authz proxy` is then the proxy's own validation.
//
//   PORT=3000 node modern-server.mjs        (prints "listening <url>" when ready)

import http from "node:http";

const VERSION = "2026-07-28";
const TOOLS = [
  {
    name: "regional_echo",
    description: "Echoes its text, tagged with the region it runs in.",
    inputSchema: {
      type: "object",
      properties: {
        region: { type: "string", description: "Where to run", "x-mcp-header": "Region" },
        text: { type: "string" },
      },
      required: ["region"],
    },
  },
  {
    name: "echo",
    description: "Echoes its text.",
    inputSchema: { type: "object", properties: { text: { type: "string" } } },
  },
];

function result(method, params) {
  switch (method) {
    case "server/discover":
      return {
        supportedVersions: [VERSION],
        capabilities: { tools: {} },
        serverInfo: { name: "mcp-authz-modern-fixture", version: "1.0.0" },
      };
    case "tools/list":
      return { resultType: "complete", tools: TOOLS, cacheScope: "public", ttlMs: 0 };
    case "tools/call": {
      const tool = TOOLS.find((t) => t.name === params?.name);
      if (!tool) return null;
      const args = params?.arguments ?? {};
      const text = tool.name === "regional_echo" ? `${args.region ?? ""}: ${args.text ?? ""}` : `${args.text ?? ""}`;
      return { resultType: "complete", content: [{ type: "text", text }] };
    }
    case "ping":
      return {};
    default:
      return undefined;
  }
}

const server = http.createServer((req, res) => {
  if (req.method !== "POST") {
    res.writeHead(405, { allow: "POST" }).end();
    return;
  }
  let body = "";
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    let msg;
    try {
      msg = JSON.parse(body);
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
      return;
    }
    if (msg.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const out = result(msg.method, msg.params);
    const answer =
      out === undefined
        ? { jsonrpc: "2.0", id: msg.id, error: { code: -32601, message: "Method not found" } }
        : out === null
          ? { jsonrpc: "2.0", id: msg.id, error: { code: -32602, message: "Unknown tool" } }
          : { jsonrpc: "2.0", id: msg.id, result: out };
    res.writeHead(out === undefined ? 404 : 200, { "content-type": "application/json" });
    res.end(JSON.stringify(answer));
  });
});

server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(`listening http://127.0.0.1:${server.address().port}/mcp`);
});
