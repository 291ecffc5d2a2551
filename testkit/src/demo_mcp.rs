//! A small MCP server with two tools, for the example and the tests: `whoami` (the base scope)
//! reports the verified principal the middleware put in the request; `admin_reset` needs the
//! extra scope `mcp:admin` (per-tool scope in the policy).

use std::sync::Arc;

use mcp_authz_core::Principal;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{tool, tool_handler, tool_router, ServerHandler};

/// The two-tool server (`whoami`, `admin_reset`).
#[derive(Debug, Clone)]
pub struct DemoMcp {
    tool_router: ToolRouter<Self>,
}

impl DemoMcp {
    /// The server with its two tools.
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }
}

impl Default for DemoMcp {
    fn default() -> Self {
        Self::new()
    }
}

/// The caller as this server knows it: the principal the middleware put in the request (same
/// process), or else the identity headers `mcp-authz proxy` sends (behind the proxy).
fn describe(parts: &http::request::Parts) -> String {
    let seen = parts.headers.contains_key(http::header::AUTHORIZATION);
    if let Some(p) = parts.extensions.get::<Arc<Principal>>() {
        return format!(
            "subject={} client_id={} scopes={} authorization_header_seen={seen}",
            p.subject().unwrap_or("-"),
            p.client_id().unwrap_or("-"),
            p.scopes().collect::<Vec<_>>().join(","),
        );
    }
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    match header("x-mcp-authz-subject") {
        Some(subject) => format!(
            "subject={subject} client_id={} scopes={} authorization_header_seen={seen} (via proxy headers)",
            header("x-mcp-authz-client-id").unwrap_or("-"),
            header("x-mcp-authz-scopes").unwrap_or("").replace(' ', ","),
        ),
        None => "no principal (unprotected)".to_string(),
    }
}

#[tool_router]
impl DemoMcp {
    /// Who is calling, as the resource server verified it.
    #[tool(description = "Report the caller's verified identity")]
    fn whoami(&self, Extension(parts): Extension<http::request::Parts>) -> String {
        describe(&parts)
    }

    /// A privileged operation: the policy requires `mcp:admin` for it.
    #[tool(description = "Reset the demo state (needs the mcp:admin scope)")]
    fn admin_reset(&self, Extension(parts): Extension<http::request::Parts>) -> String {
        format!("reset done for {}", describe(&parts))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DemoMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// The server as a Streamable HTTP tower service (stateless, JSON responses).
pub fn demo_service(
    allowed_hosts: Vec<String>,
) -> StreamableHttpService<DemoMcp, LocalSessionManager> {
    service(allowed_hosts, true)
}

/// The same server answering every request with an event stream (`text/event-stream`), the
/// other response mode of Streamable HTTP.
pub fn demo_service_streaming(
    allowed_hosts: Vec<String>,
) -> StreamableHttpService<DemoMcp, LocalSessionManager> {
    service(allowed_hosts, false)
}

fn service(
    allowed_hosts: Vec<String>,
    json: bool,
) -> StreamableHttpService<DemoMcp, LocalSessionManager> {
    StreamableHttpService::new(
        || Ok(DemoMcp::new()),
        Default::default(),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(json)
            .with_sse_keep_alive(None)
            .with_allowed_hosts(allowed_hosts),
    )
}
