//! # mcp-authz-testkit
//!
//! What the mcp-authz tests, examples and demo share, and what you need to test your own MCP
//! server behind mcp-authz without a real authorization server. **Development and tests only.**
//!
//! - [`auth_server::DevAuthServer`]: a complete, development-only OAuth 2.0 authorization
//!   server on loopback (RFC 8414 metadata, RFC 7591 open registration, PKCE S256, RFC 9068 JWT
//!   access tokens, automatic consent), which real MCP clients complete the flow against. It is
//!   what `mcp-authz demo` runs.
//! - [`as_double::AsDouble`]: an authorization-server double (metadata and JWK Set only) with
//!   knobs for rotation, downtime, slowness and broken answers.
//! - [`demo_mcp`]: the two-tool MCP server (`whoami`, and `admin_reset`, which the demo policy
//!   gives the scope `mcp:admin`), as an rmcp Streamable HTTP service.
//! - [`jwt`]: keys, JWKs and signed access tokens; [`client`]: one-request HTTP helpers.
//!
//! ```
//! use mcp_authz_testkit::auth_server::DevAuthServer;
//! let dev = DevAuthServer::new("http://127.0.0.1:9400".into(), "http://127.0.0.1:9401/mcp".into(),
//!     vec!["mcp:tools".into()]).unwrap();
//! let token = dev.mint("my-client", "mcp:tools", "http://127.0.0.1:9401/mcp").unwrap();
//! assert_eq!(token.split('.').count(), 3);
//! assert_eq!(dev.jwk_set()["keys"][0]["alg"], "ES256");
//! ```

pub mod as_double;
pub mod auth_server;
pub mod client;
pub mod demo_mcp;
pub mod jwt;
