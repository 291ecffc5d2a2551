-- wrk script: POST a JSON-RPC tools/call of `whoami`, with the token from $TOKEN (if any).
wrk.method = "POST"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
wrk.headers["content-type"] = "application/json"
wrk.headers["accept"] = "application/json, text/event-stream"
wrk.headers["mcp-protocol-version"] = "2025-06-18"
local session = os.getenv("SESSION")
if session ~= nil and session ~= "" then
  wrk.headers["mcp-session-id"] = session
end
local token = os.getenv("TOKEN")
if token ~= nil and token ~= "" then
  wrk.headers["authorization"] = "Bearer " .. token
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d non2xx=%d errors=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
