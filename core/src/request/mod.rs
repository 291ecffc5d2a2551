//! One request, from its head to a verdict: the MCP JSON-RPC body
//! ([MCP 2026-07-28, Streamable HTTP](https://modelcontextprotocol.io/specification/2026-07-28/basic/transports)),
//! the exchange loop every adapter drives, the guard of one protected resource, and the verdict
//! module, the only place a request is allowed; and the filter of the list results an allowed
//! request gets back.

pub mod exchange;
pub mod guard;
pub mod list_filter;
pub mod mcp_request;
pub mod param_headers;
pub mod session;
pub mod verdict;
