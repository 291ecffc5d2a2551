//! One request, from its head to a verdict: the MCP JSON-RPC body
//! ([MCP 2026-07-28, Streamable HTTP](https://modelcontextprotocol.io/specification/2026-07-28/basic/transports)),
//! the exchange loop every adapter drives, the guard of one protected resource, and the verdict
//! module, the only place a request is allowed.

pub mod exchange;
pub mod guard;
pub mod mcp_request;
pub mod session;
pub mod verdict;
