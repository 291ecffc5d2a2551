//! The proxy's configuration, written once: each setting is one field of [`ServerConfig`] (the
//! listener and its limits, shared by every route) or [`RouteConfig`] (one protected resource and
//! its upstream). Each struct is at once the clap arguments (`--tool-scope`) and the serde form of
//! the TOML file (`tool-scope = […]`), so a new setting is one field plus its use in
//! [`build`](super::build).
//!
//! Flags win over the file: both are read into the same structs, and a flag that was given
//! (a value, a `true` switch, a non-empty list) replaces the file's value of that key. A file key
//! that no field has is refused, as a mistyped flag is.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use mcp_authz_core::dpop::DpopMode;
use mcp_authz_core::rules::{ClaimPath, Condition, Requirement, RoleClaims, UriPattern};
use mcp_authz_core::token_exchange::{ExchangeClient, ExchangeProfile, ExchangeTarget};
use mcp_authz_core::token_introspection::ClientAuthentication;
use mcp_authz_core::{IntrospectionMode, ScopePolicy, TypPolicy};
use mcp_authz_hyper::KeySigner;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::serve::ServeLimits;

/// The listener and what it allows every client, whatever the route.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ServerConfig {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Seconds a client has to send a whole request head; the same bound applies to an idle
    /// keep-alive connection waiting for its next request [default: 60].
    #[arg(long, value_name = "SECONDS")]
    pub header_timeout: Option<u64>,
    /// Seconds a client may pause while sending a request body before it is cut off
    /// [default: 60].
    #[arg(long, value_name = "SECONDS")]
    pub body_timeout: Option<u64>,
    /// Connections served at once; more wait to be accepted [default: 1024].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Threads serving requests [default: one per CPU]. 1 is one thread doing everything, as
    /// an nginx worker does; on a host the proxy shares with its upstream (a sidecar), fewer
    /// threads than CPUs cost less per request (BENCHMARKS.md).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Serve Prometheus metrics at http://ADDR/metrics, a listener of its own [default: off].
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// Write one JSON line per request to stdout: time, method, path, status, decision reason,
    /// issuer, kid, client id, subject, duration. Never a token or another header's value.
    /// Values: off, json [default: off].
    #[arg(long, value_name = "FORMAT")]
    pub access_log: Option<String>,
    /// Refuse to start while an authorization server's metadata cannot be fetched and validated
    /// (for CI and scripts). Without it the proxy listens at once: the protected-resource
    /// metadata and the 401 challenges are served, requests with a token get 503 with
    /// Retry-After until the metadata is validated and the keys loaded (retried with capped
    /// exponential backoff), and GET /readyz says what is missing.
    #[arg(long)]
    pub fail_fast: bool,
    /// Serve TLS with this PEM certificate chain (the server's certificate first, then its
    /// intermediates); needs --tls-key. HTTP/2 and HTTP/1.1 are offered through ALPN. The pair
    /// is reloaded on SIGHUP and when either file changes, without dropping connections.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Keep the rate limits, the DPoP proofs seen and the MCP session owners in Redis (or
    /// Valkey) at URL (redis://HOST:PORT/DB, rediss:// for TLS), shared by every replica given
    /// the same URL [default: in this process].
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// When the store cannot be reached, refuse requests (503 with Retry-After) instead of
    /// applying no rate limit until it is back.
    #[arg(long)]
    pub rate_limits_fail_closed: bool,
    /// When the store cannot be reached, take DPoP proofs as new and MCP sessions as unbound
    /// instead of refusing the requests that carry them (503 with Retry-After, the default).
    #[arg(long)]
    pub store_fail_open: bool,
}

impl ServerConfig {
    /// Where the proxy listens.
    pub fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)))
    }

    /// The client connection limits.
    pub fn limits(&self) -> ServeLimits {
        let d = ServeLimits::default();
        ServeLimits {
            header_timeout: self
                .header_timeout
                .map_or(d.header_timeout, Duration::from_secs),
            body_timeout: self
                .body_timeout
                .map_or(d.body_timeout, Duration::from_secs),
            max_connections: self.max_connections.unwrap_or(d.max_connections).max(1),
        }
    }

    /// The TLS files, when the listener serves TLS.
    ///
    /// # Errors
    /// When only one of the two is given.
    pub fn tls(&self) -> Result<Option<super::tls::TlsFiles>, String> {
        match (&self.tls_cert, &self.tls_key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(super::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            })),
            _ => Err("--tls-cert and --tls-key go together".into()),
        }
    }

    /// Whether requests are logged as JSON lines.
    ///
    /// # Errors
    /// For a format other than `off` and `json`.
    pub fn access_log(&self) -> Result<bool, String> {
        match self.access_log.as_deref() {
            None | Some("off") => Ok(false),
            Some("json") => Ok(true),
            Some(other) => Err(format!("--access-log {other}: expected off or json")),
        }
    }
}

/// One protected MCP endpoint: the authorization servers trusted for it, what its tokens must
/// hold, and the upstream MCP server it forwards to.
#[derive(Debug, Clone, Default, Args, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct RouteConfig {
    /// The route's name in metrics (the `route` label) and in the start line [default: the
    /// resource's path].
    #[arg(long = "route-name", value_name = "NAME")]
    pub name: Option<String>,
    /// An authorization server's RFC 8414 metadata URL (repeatable: each is trusted, and listed
    /// in the protected-resource metadata in this order; a token is verified by the one its iss
    /// names, with that server's keys alone).
    #[arg(long, value_name = "URL")]
    #[serde(deserialize_with = "one_or_many")]
    pub metadata_url: Vec<String>,
    /// The public URL of the protected MCP endpoint (what clients connect to; tokens' aud).
    #[arg(long, value_name = "URL")]
    pub resource: Option<String>,
    /// The MCP server to forward to, e.g. http://127.0.0.1:9000/mcp.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// A scope every request needs (repeatable); also the scope the first 401 asks for.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scope: Vec<String>,
    /// A scope one tool needs, as TOOL=SCOPE (repeatable).
    #[arg(long = "tool-scope", value_name = "TOOL=SCOPE")]
    pub tool_scope: Vec<String>,
    /// A scope one JSON-RPC method needs, as METHOD=SCOPE (repeatable), e.g.
    /// resources/read=mcp:resources.
    #[arg(long = "method-scope", value_name = "METHOD=SCOPE")]
    pub method_scope: Vec<String>,
    /// A client allowed to use the resource (repeatable): with any, a token of another client_id
    /// is refused (403, no step-up), whatever it calls.
    #[arg(long = "allow-client", value_name = "CLIENT_ID")]
    pub allow_client: Vec<String>,
    /// A requirement every request to the resource meets (repeatable; the syntax of
    /// --tool-rule without the name), e.g. "tenant=3f1c | role=partner".
    #[arg(long = "require", value_name = "REQUIREMENT")]
    pub require: Vec<String>,
    /// A rule one tool's calls must meet, as "TOOL REQUIREMENT" (repeatable). A requirement is
    /// alternatives separated by |, each a space-separated set of conditions that must all
    /// hold: a scope, role=R, client=ID, sub=S, iss=URL, tenant=T or claim:PATH=VALUE; e.g.
    /// "deploy role=deployer | mcp:deploy client=ci".
    #[arg(long = "tool-rule", value_name = "TOOL REQUIREMENT")]
    pub tool_rule: Vec<String>,
    /// A rule one prompt's prompts/get must meet, as "PROMPT REQUIREMENT" (repeatable).
    #[arg(long = "prompt-rule", value_name = "PROMPT REQUIREMENT")]
    pub prompt_rule: Vec<String>,
    /// A rule reading (or subscribing to) matching resources must meet, as "PATTERN
    /// REQUIREMENT" (repeatable); PATTERN is a URI, a prefix ending in *, or a template with
    /// {var} (one path segment) and {+var} (anything).
    #[arg(long = "resource-rule", value_name = "PATTERN REQUIREMENT")]
    pub resource_rule: Vec<String>,
    /// A rule one JSON-RPC method must meet, as "METHOD REQUIREMENT" (repeatable).
    #[arg(long = "method-rule", value_name = "METHOD REQUIREMENT")]
    pub method_rule: Vec<String>,
    /// Where role=R conditions look for roles or groups (repeatable): a claim path
    /// (realm_access.roles, or a JSON Pointer such as /https:~1~1example.com~1roles) or a
    /// provider name: keycloak, auth0, cognito, okta, entra.
    #[arg(long = "role-claim", value_name = "PATH|PROVIDER")]
    pub role_claim: Vec<String>,
    /// Make the first 401 ask for every scope the rules mention, for clients that cannot step
    /// up later.
    #[arg(long)]
    pub challenge_all_scopes: bool,
    /// A tool anyone may call without a token (repeatable). Then initialize, ping,
    /// server/discover and tools/list (showing the public tools only) need no token either;
    /// everything else keeps its 401, and a request with a token is verified as usual.
    #[arg(long = "public-tool", value_name = "TOOL")]
    pub public_tool: Vec<String>,
    /// A Cedar policy file that decides each call the rules allow (needs the cedar feature).
    /// The principal is User::"SUB" with the token's claims and scopes as attributes, the
    /// action Action::"METHOD", the resource Tool::"NAME", Prompt::"NAME", Resource::"URI" or
    /// Method::"METHOD". Cedar denies what no policy permits.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Pass tools/list, prompts/list, resources/list and resources/templates/list answers
    /// unfiltered. By default, whenever a tool, prompt or resource rule exists, they list only
    /// what the caller may use (marked cacheScope "private").
    #[arg(long)]
    pub no_list_filtering: bool,
    /// Validate the MCP request headers for any upstream: requests that declare MCP 2026-07-28
    /// or later need Mcp-Method (and Mcp-Name for a named call) matching the body, else 400
    /// with JSON-RPC -32020 (SEP-2243). Always on with --tool-scope or --method-scope.
    #[arg(long)]
    pub validate_mcp_headers: bool,
    /// Limit every caller (issuer and subject, or client id) to RATE requests: QUOTA/UNIT
    /// (s, min, h, day), optionally with a burst: "60/min", "10/s burst=20". Over it: 429 with
    /// Retry-After and the RateLimit headers, never forwarded. Per process [default: none].
    #[arg(long, value_name = "RATE")]
    pub rate_limit: Option<String>,
    /// Limit every caller's calls of TOOL: TOOL=RATE, e.g. admin_reset=10/min (repeatable; the
    /// body is read, as for --tool-scope).
    #[arg(long, value_name = "TOOL=RATE")]
    pub tool_rate_limit: Vec<String>,
    /// resource_name in the protected-resource metadata.
    #[arg(long, value_name = "NAME")]
    pub resource_name: Option<String>,
    /// Accept authorization servers with neither registration_endpoint nor Client ID Metadata
    /// Document support (every MCP client pre-registered).
    #[arg(long)]
    pub allow_missing_registration: bool,
    /// Accept http URLs on loopback hosts (development only).
    #[arg(long)]
    pub allow_http_loopback: bool,
    /// Accept tokens with typ JWT (authorization servers without RFC 9068 support).
    #[arg(long)]
    pub lenient_typ: bool,
    /// Refuse access tokens that live longer than this (exp - iat, or exp - now without iat)
    /// [default: no limit].
    #[arg(long, value_name = "SECONDS")]
    pub max_token_lifetime: Option<u64>,
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)] // Documented with its fields, in the CLI crate root.
    pub audience: crate::AudienceArgs,
    #[command(flatten)]
    #[serde(flatten)]
    #[allow(missing_docs)]
    pub tenants: crate::TenantArgs,
    /// Also accept Entra ID v1 tokens (iss sts.windows.net/{tid}) from each Entra ID
    /// v2 authorization server: the same keys sign both.
    #[arg(long)]
    pub entra_v1_tokens: bool,
    /// Which access tokens are introspected (RFC 7662) at the first authorization server's
    /// introspection_endpoint: never, non-jwt (tokens that are not JWTs), always [default: never].
    #[arg(long, value_name = "MODE")]
    pub introspect: Option<String>,
    /// This resource server's client id at the introspection endpoint.
    #[arg(long, value_name = "ID")]
    pub introspection_client_id: Option<String>,
    /// A file holding the client secret (one line); else the environment variable
    /// MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET. Never a command-line argument.
    #[arg(long, value_name = "FILE")]
    pub introspection_client_secret_file: Option<PathBuf>,
    /// How the client authenticates: basic (client_secret_basic) or post (client_secret_post)
    /// [default: basic].
    #[arg(long, value_name = "METHOD")]
    pub introspection_auth: Option<String>,
    /// The longest an introspection answer is kept: a revoked token is refused at most this
    /// long after its revocation [default: 300].
    #[arg(long, value_name = "SECONDS")]
    pub introspection_cache_ttl: Option<u64>,
    /// Keep introspection answers in the --store too: replicas ask the authorization server
    /// once per token between them and see a revocation at the same moment. Whoever can write
    /// to the store can then make tokens active.
    #[arg(long)]
    pub share_introspection: bool,
    /// Send the upstream a token of its own for each caller, exchanged at the authorization
    /// server's token endpoint for the caller's token (RFC 8693 token exchange); the caller's
    /// token never leaves the proxy. No token can be had: 502 (503 when the server cannot be
    /// asked), never forwarded.
    #[arg(long, conflicts_with = "upstream_obo")]
    pub upstream_token_exchange: bool,
    /// The same with Entra ID's on-behalf-of flow (the JWT bearer grant,
    /// requested_token_use=on_behalf_of).
    #[arg(long)]
    pub upstream_obo: bool,
    /// The exchanged token's audience (RFC 8693 `audience`).
    #[arg(long, value_name = "VALUE")]
    pub exchange_audience: Option<String>,
    /// The exchanged token's resource (RFC 8707 `resource`) [default for a token exchange
    /// without --exchange-audience: the upstream URL].
    #[arg(long, value_name = "URI")]
    pub exchange_resource: Option<String>,
    /// The scopes asked for the upstream (space-separated; for --upstream-obo, e.g.
    /// api://APP/.default, the default being RESOURCE/.default).
    #[arg(long, value_name = "SCOPE")]
    pub exchange_scope: Option<String>,
    /// This proxy's client id at the token endpoint.
    #[arg(long, value_name = "ID")]
    pub exchange_client_id: Option<String>,
    /// A file holding the client secret (one line); else the environment variable
    /// MCP_AUTHZ_EXCHANGE_CLIENT_SECRET. Never a command-line argument.
    #[arg(long, value_name = "FILE")]
    pub exchange_client_secret_file: Option<PathBuf>,
    /// How the client authenticates: basic (client_secret_basic), post (client_secret_post),
    /// private_key_jwt [default: basic; private_key_jwt with --exchange-client-key].
    #[arg(long, value_name = "METHOD")]
    pub exchange_auth: Option<String>,
    /// Serve an authorization-server facade in front of the (first) identity provider, for
    /// providers that do not speak MCP's OAuth profile: entra, auth0, okta or generic. MCP
    /// clients then use {resource origin}/facade/PROFILE as their authorization server.
    #[arg(long, value_name = "PROFILE")]
    pub as_facade: Option<String>,
    /// The provider app's client id the facade hands out and uses.
    #[arg(long, value_name = "ID")]
    pub facade_client_id: Option<String>,
    /// A file holding the provider app's client secret (a confidential app); else the
    /// environment variable MCP_AUTHZ_FACADE_CLIENT_SECRET, if set.
    #[arg(long, value_name = "FILE")]
    pub facade_client_secret_file: Option<PathBuf>,
    /// A redirect URI clients may use (repeatable; a loopback URI matches any port).
    #[arg(long = "facade-redirect-uri", value_name = "URI")]
    pub facade_redirect_uri: Vec<String>,
    /// Entra: the App ID URI short scopes expand under (api://APP).
    #[arg(long, value_name = "URI")]
    pub facade_api_uri: Option<String>,
    /// Auth0: the API identifier sent as `audience`.
    #[arg(long, value_name = "VALUE")]
    pub facade_audience: Option<String>,
    /// The client's private key for private_key_jwt (PKCS#8 PEM: P-256, RSA or Ed25519).
    #[arg(long, value_name = "FILE")]
    pub exchange_client_key: Option<PathBuf>,
    /// The kid the authorization server knows that key by.
    #[arg(long, value_name = "KID")]
    pub exchange_client_key_id: Option<String>,
    /// The key's certificate (PEM), for servers that identify keys by certificate (Entra ID:
    /// x5t#S256).
    #[arg(long, value_name = "FILE")]
    pub exchange_client_cert: Option<PathBuf>,
    /// Also serve browsers from ORIGIN (scheme://host or scheme://host:port, repeatable). Without it, only the
    /// resource's own origin and requests without Origin are served; others get 403.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origin: Vec<String>,
    /// Also serve Origin: null (sandboxed frames, file: pages).
    #[arg(long)]
    pub allow_null_origin: bool,
    /// DPoP-bound access tokens (RFC 9449): off (Bearer only), allowed (Bearer, and DPoP with
    /// its proof), required (DPoP only) [default: off]. A token bound to a key is never accepted
    /// as Bearer.
    #[arg(long, value_name = "MODE")]
    pub dpop: Option<String>,
    /// Require server nonces in DPoP proofs, made under the secret in FILE (any length from 16
    /// bytes; give every replica the same file) [default: no nonces].
    #[arg(long, value_name = "FILE")]
    pub dpop_nonce_secret_file: Option<PathBuf>,
    /// Seconds to wait for the upstream's response headers [default: 60].
    #[arg(long, value_name = "SECONDS")]
    pub upstream_timeout: Option<u64>,
    /// Also send the upstream a signed identity: a 60-second ES256 JWT in the header
    /// {prefix}Assertion, verifiable with the JWK Set at /.well-known/mcp-authz/jwks.json.
    #[arg(long)]
    pub identity_assertion: bool,
    /// The P-256 key (PKCS#8 PEM) that signs the identity assertions [default: made at start].
    #[arg(long, value_name = "FILE")]
    pub identity_assertion_key: Option<PathBuf>,
    /// Prefix of the identity headers sent upstream [default: X-Mcp-Authz-].
    #[arg(long, value_name = "PREFIX")]
    pub identity_header_prefix: Option<String>,
}

/// The whole configuration: the server, and the routes: the one the flags (or the file's top
/// level) describe, or the file's `[[route]]` tables, one per protected resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProxyConfig {
    /// The listener and its limits.
    #[serde(flatten)]
    pub server: ServerConfig,
    /// The protected resource and its upstream (flags, or the file's top level).
    #[serde(flatten)]
    pub route: RouteConfig,
    /// Several protected resources behind one listener: the file's `[[route]]` tables. When
    /// there are any, no route setting may be given outside them.
    #[serde(default, rename = "route", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteConfig>,
}

impl ProxyConfig {
    /// Every route, each with its name: the `[[route]]` tables, or else the one route.
    ///
    /// # Errors
    /// When route settings are given both outside and in `[[route]]` tables, or two routes
    /// share a name or a resource path.
    pub fn all_routes(&self) -> Result<Vec<(String, &RouteConfig)>, String> {
        let routes: Vec<&RouteConfig> = match self.routes.as_slice() {
            [] => vec![&self.route],
            tables => {
                let outside = serde_json::to_value(&self.route).map_err(|e| e.to_string())?;
                let given = outside
                    .as_object()
                    .into_iter()
                    .flatten()
                    .find(|(_, v)| was_given(v));
                if let Some((key, _)) = given {
                    return Err(format!(
                        "`{key}` is given outside the [[route]] tables: with routes, every route setting goes in its route"
                    ));
                }
                tables.iter().collect()
            }
        };
        let mut named: Vec<(String, &RouteConfig)> = Vec::new();
        let mut paths: Vec<String> = Vec::new();
        for route in routes {
            let path = route
                .resource
                .as_deref()
                .and_then(|r| r.parse::<http::Uri>().ok())
                .map(|u| u.path().to_owned())
                .unwrap_or_default();
            let name = route.name.clone().unwrap_or_else(|| path.clone());
            if named.iter().any(|(n, _)| *n == name) {
                return Err(format!("two routes are named {name}"));
            }
            if !path.is_empty() && paths.contains(&path) {
                return Err(format!("two routes protect the path {path}"));
            }
            paths.push(path);
            named.push((name, route));
        }
        Ok(named)
    }
}

/// Arguments of `mcp-authz proxy` (every one may also come from `--config FILE`; flags win).
#[derive(Debug, Clone, Default, Args)]
pub struct ProxyArgs {
    #[command(flatten)]
    server: ServerConfig,
    #[command(flatten)]
    route: RouteConfig,
    /// A TOML file with the same keys as the flags (kebab-case); flags win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ProxyArgs {
    /// The flags over the config file.
    ///
    /// # Errors
    /// When the file cannot be read, is not TOML, has a key no flag has, or a value of the
    /// wrong type.
    pub fn resolve(self) -> Result<ProxyConfig, String> {
        let flags = ProxyConfig {
            server: self.server,
            route: self.route,
            routes: Vec::new(),
        };
        let Some(path) = &self.config else {
            return Ok(flags);
        };
        let shown = path.display();
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let file: toml::Table = toml::from_str(&text).map_err(|e| format!("{shown}: {e}"))?;
        let mut merged = serde_json::to_value(&file).map_err(|e| format!("{shown}: {e}"))?;
        let known = serde_json::to_value(ProxyConfig::default()).map_err(|e| e.to_string())?;
        let route_keys = serde_json::to_value(RouteConfig::default()).map_err(|e| e.to_string())?;
        if let (Value::Object(merged), Value::Object(known), Value::Object(route_keys)) =
            (&merged, &known, &route_keys)
        {
            if let Some(unknown) = merged
                .keys()
                .find(|k| !known.contains_key(*k) && *k != "route")
            {
                return Err(format!("{shown}: unknown field `{unknown}`"));
            }
            // Each [[route]] table holds route settings only.
            let tables = merged.get("route").and_then(Value::as_array);
            for (i, table) in tables.into_iter().flatten().enumerate() {
                let Some(table) = table.as_object() else {
                    return Err(format!(
                        "{shown}: [[route]] number {} is not a table",
                        i + 1
                    ));
                };
                if let Some(unknown) = table.keys().find(|k| !route_keys.contains_key(*k)) {
                    return Err(format!(
                        "{shown}: [[route]] number {}: unknown field `{unknown}`",
                        i + 1
                    ));
                }
            }
        }
        let given = serde_json::to_value(&flags).map_err(|e| e.to_string())?;
        if let (Value::Object(merged), Value::Object(given)) = (&mut merged, given) {
            for (key, value) in given {
                if was_given(&value) {
                    merged.insert(key, value);
                }
            }
        }
        serde_json::from_value(merged).map_err(|e| format!("{shown}: {e}"))
    }
}

/// Whether a flag's value says it was given: a value, a `true` switch, a non-empty list.
fn was_given(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::Array(a) => !a.is_empty(),
        _ => true,
    }
}

/// `metadata-url` takes one string or an array of them.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// The headers in which the proxy states the verified identity to the upstream.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    /// The prefix, lower case: every client header starting with it is removed.
    pub prefix: String,
    /// `{prefix}Subject`.
    pub subject: http::HeaderName,
    /// `{prefix}Client-Id`.
    pub client_id: http::HeaderName,
    /// `{prefix}Scopes`.
    pub scopes: http::HeaderName,
    /// `{prefix}Assertion` (with `--identity-assertion`).
    pub assertion: http::HeaderName,
}

/// The environment variable the token exchange's client secret may come from.
pub const EXCHANGE_SECRET_ENV: &str = "MCP_AUTHZ_EXCHANGE_CLIENT_SECRET";

/// The environment variable the introspection client secret may come from.
pub const CLIENT_SECRET_ENV: &str = "MCP_AUTHZ_INTROSPECTION_CLIENT_SECRET";

/// How the proxy introspects tokens (RFC 7662).
#[derive(Debug, Clone)]
pub struct ProxyIntrospection {
    /// Which tokens.
    pub mode: IntrospectionMode,
    /// This resource server's credentials (`Debug` shows no secret).
    pub client: ClientAuthentication,
    /// The longest a positive answer is kept (default 300 s).
    pub cache_ttl: Option<Duration>,
}

/// The checked values of a route, each read from its setting when the proxy is built.
impl RouteConfig {
    /// The authorization servers' metadata URLs, in order.
    ///
    /// # Errors
    /// When there is none.
    pub fn metadata_urls(&self) -> Result<&[String], String> {
        match self.metadata_url.as_slice() {
            [] => Err("--metadata-url is required (or `metadata-url` in --config)".into()),
            urls => Ok(urls),
        }
    }

    /// The public URL of the protected MCP endpoint.
    ///
    /// # Errors
    /// When it is missing or not an absolute URL.
    pub fn resource(&self) -> Result<&str, String> {
        let resource = required(self.resource.as_deref(), "resource")?;
        match resource.parse::<http::Uri>() {
            Ok(u) if u.scheme().is_some() && u.authority().is_some() => Ok(resource),
            Ok(_) => Err(format!("--resource {resource}: not an absolute URL")),
            Err(_) => Err(format!("--resource {resource}: not a URL")),
        }
    }

    /// The MCP server requests are forwarded to.
    ///
    /// # Errors
    /// When it is missing or not an absolute http(s) URL.
    pub fn upstream(&self) -> Result<http::Uri, String> {
        let text = required(self.upstream.as_deref(), "upstream")?;
        let upstream: http::Uri = text
            .parse()
            .map_err(|_| format!("--upstream {text}: not a URL"))?;
        match (upstream.scheme_str(), upstream.authority()) {
            (Some("http" | "https"), Some(_)) => Ok(upstream),
            _ => Err(format!("--upstream {text}: not an absolute http(s) URL")),
        }
    }

    /// The rate limits: every request's, and each tool's.
    ///
    /// # Errors
    /// For a rate that does not parse, or a tool limit without `=`.
    #[allow(clippy::type_complexity)]
    pub fn rate_limits(
        &self,
    ) -> Result<
        (
            Option<mcp_authz_core::rate_limit::RateLimit>,
            Vec<(String, mcp_authz_core::rate_limit::RateLimit)>,
        ),
        String,
    > {
        let all = match &self.rate_limit {
            None => None,
            Some(r) => Some(r.parse().map_err(|e| format!("--rate-limit {r}: {e}"))?),
        };
        let tools = self
            .tool_rate_limit
            .iter()
            .map(|t| {
                let (tool, rate) = t
                    .split_once('=')
                    .filter(|(tool, _)| !tool.is_empty())
                    .ok_or_else(|| format!("--tool-rate-limit {t}: expected TOOL=RATE"))?;
                let limit = rate
                    .parse()
                    .map_err(|e| format!("--tool-rate-limit {t}: {e}"))?;
                Ok((tool.to_owned(), limit))
            })
            .collect::<Result<_, String>>()?;
        Ok((all, tools))
    }

    /// The scopes every request needs, and those of each tool and each method.
    ///
    /// # Errors
    /// For a tool or method scope that is not `NAME=SCOPE`.
    pub fn scope_policy(&self) -> Result<ScopePolicy, String> {
        // Every condition given for one name must hold: a repeated --tool-scope adds a scope, a
        // --tool-rule for the same tool adds its requirement to each of its sets.
        let mut tools = BTreeMap::new();
        let mut methods = BTreeMap::new();
        for (tool, scope) in pairs(&self.tool_scope, "--tool-scope", "TOOL=SCOPE")? {
            conjoin(&mut tools, tool, Requirement::scopes([scope]));
        }
        for (method, scope) in pairs(&self.method_scope, "--method-scope", "METHOD=SCOPE")? {
            conjoin(&mut methods, method, Requirement::scopes([scope]));
        }
        for (tool, rule) in rules(&self.tool_rule, "--tool-rule", "TOOL")? {
            conjoin(&mut tools, tool, rule);
        }
        for (method, rule) in rules(&self.method_rule, "--method-rule", "METHOD")? {
            conjoin(&mut methods, method, rule);
        }
        let mut prompts = BTreeMap::new();
        for (prompt, rule) in rules(&self.prompt_rule, "--prompt-rule", "PROMPT")? {
            conjoin(&mut prompts, prompt, rule);
        }
        let mut policy = ScopePolicy::new(self.scope.clone())
            .with_role_claims(self.role_claims()?)
            .with_all_scopes_challenged(self.challenge_all_scopes)
            .with_list_filtering(!self.no_list_filtering);
        for (tool, rule) in tools {
            policy = policy.with_tool_rule(tool, rule);
        }
        for (method, rule) in methods {
            policy = policy.with_method_rule(method, rule);
        }
        for (prompt, rule) in prompts {
            policy = policy.with_prompt_rule(prompt, rule);
        }
        for (pattern, rule) in rules(&self.resource_rule, "--resource-rule", "PATTERN")? {
            let parsed: UriPattern = pattern
                .parse()
                .map_err(|e| format!("--resource-rule {pattern}: {e}"))?;
            policy = policy.with_resource_rule(parsed, rule);
        }
        if let Some(path) = &self.policy {
            policy = with_cedar(policy, path)?;
        }
        if let Some((first, rest)) = self.allow_client.split_first() {
            let one = |c: &String| -> Result<Vec<Condition>, String> {
                match c.is_empty() {
                    true => Err("--allow-client needs a client id".into()),
                    false => Ok(vec![Condition::Client(c.clone())]),
                }
            };
            let mut clients = Requirement::all(one(first)?);
            for c in rest {
                clients = clients.or(one(c)?);
            }
            policy = policy.with_rule(clients);
        }
        for r in &self.require {
            let rule = r
                .parse::<Requirement>()
                .map_err(|e| format!("--require {r:?}: {e}"))?;
            policy = policy.with_rule(rule);
        }
        for tool in &self.public_tool {
            if tool.is_empty() {
                return Err("--public-tool needs a tool name".into());
            }
            policy = policy.with_public_tool(tool.clone());
        }
        // A public tool is anyone's: a rule that would refuse someone on the same call
        // contradicts it (and would be skipped by sending no token), so say so.
        for tool in &self.public_tool {
            let calls = [
                ("tools/call", Some(tool.as_str())),
                ("tools/list", None),
                ("initialize", None),
            ];
            for (method, name) in calls {
                if let Some(what) = policy.contradicts_public(method, name) {
                    return Err(format!(
                        "--public-tool {tool}: {what} ({method}) would refuse callers that anyone without a token may call; drop one of them"
                    ));
                }
            }
        }
        let uses_roles = self
            .tool_rule
            .iter()
            .chain(&self.require)
            .chain(&self.prompt_rule)
            .chain(&self.resource_rule)
            .chain(&self.method_rule)
            .any(|r| r.contains("role=") || r.contains("group="));
        if uses_roles && policy.role_claims().paths().is_empty() {
            return Err("a rule names a role, but no --role-claim says where tokens carry roles (e.g. --role-claim keycloak)".into());
        }
        Ok(policy)
    }

    /// Where `role=` conditions look.
    ///
    /// # Errors
    /// For a value that is neither a provider name nor a claim path.
    pub fn role_claims(&self) -> Result<RoleClaims, String> {
        let mut roles = RoleClaims::none();
        for v in &self.role_claim {
            let path = match RoleClaims::provider(v) {
                Some(p) => p,
                None => v
                    .parse::<ClaimPath>()
                    .map_err(|e| format!("--role-claim {v}: {e}"))?,
            };
            roles = roles.with(path);
        }
        Ok(roles)
    }

    /// Which `typ` values tokens may carry.
    pub fn typ_policy(&self) -> TypPolicy {
        match self.lenient_typ {
            true => TypPolicy::Lenient,
            false => TypPolicy::AccessToken,
        }
    }

    /// Whether DPoP-bound tokens are taken.
    ///
    /// # Errors
    /// For a mode other than `off`, `allowed` and `required`.
    pub fn dpop_mode(&self) -> Result<DpopMode, String> {
        match self.dpop.as_deref() {
            None => Ok(DpopMode::Off),
            Some(name) => DpopMode::from_name(name)
                .ok_or_else(|| format!("--dpop {name}: expected off, allowed or required")),
        }
    }

    /// The DPoP nonce secret (SHA-256 of the secret file), when nonces are required.
    ///
    /// # Errors
    /// When the file cannot be read or holds less than 16 bytes.
    pub fn dpop_nonce_secret(&self) -> Result<Option<[u8; 32]>, String> {
        let Some(path) = &self.dpop_nonce_secret_file else {
            return Ok(None);
        };
        let secret =
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if secret.len() < 16 {
            return Err(format!(
                "{}: a DPoP nonce secret needs at least 16 bytes",
                path.display()
            ));
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, &secret);
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        Ok(Some(key))
    }

    /// The identity headers sent upstream, under the configured prefix.
    ///
    /// # Errors
    /// When the prefix cannot start a header name.
    pub fn identity_headers(&self) -> Result<IdentityHeaders, String> {
        let prefix = self
            .identity_header_prefix
            .as_deref()
            .unwrap_or("X-Mcp-Authz-");
        let header = |suffix: &str| {
            http::HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes())
                .map_err(|_| format!("--identity-header-prefix {prefix}: not a header name prefix"))
        };
        Ok(IdentityHeaders {
            prefix: prefix.to_ascii_lowercase(),
            subject: header("Subject")?,
            client_id: header("Client-Id")?,
            scopes: header("Scopes")?,
            assertion: header("Assertion")?,
        })
    }

    /// How long to wait for the upstream's response headers.
    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_secs(self.upstream_timeout.unwrap_or(60))
    }

    /// The authorization-server facade, if any: its settings, with the secret read from its
    /// file or `MCP_AUTHZ_FACADE_CLIENT_SECRET`.
    ///
    /// # Errors
    /// For an unknown profile, or one without what it needs.
    pub fn facade(&self) -> Result<Option<super::facade::FacadeSettings>, String> {
        use mcp_authz_core::as_facade::FacadeProfile;
        let Some(name) = self.as_facade.as_deref() else {
            return Ok(None);
        };
        let profile = match name {
            "entra" => FacadeProfile::Entra {
                api_uri: self
                    .facade_api_uri
                    .clone()
                    .ok_or("--as-facade entra needs --facade-api-uri api://APP")?,
            },
            "auth0" => FacadeProfile::Auth0 {
                audience: self
                    .facade_audience
                    .clone()
                    .ok_or("--as-facade auth0 needs --facade-audience (the API identifier)")?,
            },
            "okta" => FacadeProfile::Okta,
            "generic" => FacadeProfile::Generic,
            other => {
                return Err(format!(
                    "--as-facade {other}: expected entra, auth0, okta or generic"
                ))
            }
        };
        let client_id = self
            .facade_client_id
            .clone()
            .ok_or_else(|| format!("--as-facade {name} needs --facade-client-id"))?;
        if self.facade_redirect_uri.is_empty() {
            return Err(format!(
                "--as-facade {name} needs --facade-redirect-uri (the clients' redirect URIs)"
            ));
        }
        let client_secret = match &self.facade_client_secret_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
            None => std::env::var("MCP_AUTHZ_FACADE_CLIENT_SECRET").ok(),
        };
        Ok(Some(super::facade::FacadeSettings {
            profile,
            client_id,
            client_secret: client_secret.filter(|s| !s.is_empty()),
            redirect_uris: self.facade_redirect_uri.clone(),
        }))
    }

    /// The profile of the upstream's token exchange, if any.
    fn exchange_profile(&self) -> Option<ExchangeProfile> {
        match (self.upstream_token_exchange, self.upstream_obo) {
            (true, _) => Some(ExchangeProfile::TokenExchange),
            (false, true) => Some(ExchangeProfile::EntraOnBehalfOf),
            (false, false) => None,
        }
    }

    /// What the upstream's exchanged token is for: `None` without an exchange.
    ///
    /// # Errors
    /// For `--upstream-obo` without a scope or a resource.
    pub fn exchange_target(&self) -> Result<Option<ExchangeTarget>, String> {
        let Some(profile) = self.exchange_profile() else {
            return Ok(None);
        };
        let mut target = ExchangeTarget::default();
        if let Some(a) = &self.exchange_audience {
            target = target.with_audience(a.clone());
        }
        match (&self.exchange_resource, profile) {
            (Some(r), _) => target = target.with_resource(r.clone()),
            (None, ExchangeProfile::TokenExchange) if self.exchange_audience.is_none() => {
                target = target.with_resource(self.upstream()?.to_string());
            }
            _ => {}
        }
        match (&self.exchange_scope, profile) {
            (Some(s), _) => target = target.with_scope(s.clone()),
            (None, ExchangeProfile::EntraOnBehalfOf) if self.exchange_resource.is_none() => {
                return Err("--upstream-obo needs --exchange-scope (e.g. api://APP/.default) or --exchange-resource".into());
            }
            _ => {}
        }
        Ok(Some(target))
    }

    /// The upstream's token exchange: the profile, this proxy's client at the token endpoint
    /// (the secret read from its file or [`EXCHANGE_SECRET_ENV`], never from an argument) and
    /// the key of `private_key_jwt`.
    ///
    /// # Errors
    /// For missing or unreadable credentials, an unknown method, a key that cannot be used.
    pub fn token_exchange(
        &self,
    ) -> Result<Option<(ExchangeProfile, ExchangeClient, Option<KeySigner>)>, String> {
        let Some(profile) = self.exchange_profile() else {
            return Ok(None);
        };
        // The target is checked with the credentials, before anything is fetched.
        self.exchange_target()?;
        let flag = match profile {
            ExchangeProfile::EntraOnBehalfOf => "--upstream-obo",
            _ => "--upstream-token-exchange",
        };
        let client_id = self
            .exchange_client_id
            .clone()
            .ok_or_else(|| format!("{flag} needs --exchange-client-id"))?;
        let default_method = match self.exchange_client_key {
            Some(_) => "private_key_jwt",
            None => "basic",
        };
        let method = self.exchange_auth.as_deref().unwrap_or(default_method);
        if method == "private_key_jwt" {
            let path = self.exchange_client_key.as_ref().ok_or_else(|| {
                format!("{flag} with private_key_jwt needs --exchange-client-key FILE")
            })?;
            let read = |p: &PathBuf| {
                std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            };
            let cert = self.exchange_client_cert.as_ref().map(read).transpose()?;
            let signer = KeySigner::from_pem(
                &read(path)?,
                self.exchange_client_key_id.clone(),
                cert.as_deref(),
            )
            .map_err(|e| format!("{}: {e}", path.display()))?;
            let client = ExchangeClient::PrivateKeyJwt { client_id };
            return Ok(Some((profile, client, Some(signer))));
        }
        let secret = match &self.exchange_client_secret_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            None => std::env::var(EXCHANGE_SECRET_ENV).map_err(|_| {
                format!("{flag} needs the client secret: --exchange-client-secret-file FILE or {EXCHANGE_SECRET_ENV}")
            })?,
        };
        if secret.is_empty() {
            return Err("the token exchange's client secret is empty".into());
        }
        let auth = match method {
            "basic" => ClientAuthentication::ClientSecretBasic {
                client_id,
                client_secret: secret,
            },
            "post" => ClientAuthentication::ClientSecretPost {
                client_id,
                client_secret: secret,
            },
            other => {
                return Err(format!(
                    "--exchange-auth {other}: expected basic, post or private_key_jwt"
                ))
            }
        };
        Ok(Some((profile, ExchangeClient::Secret(auth), None)))
    }

    /// The introspection settings: the mode, and (when it is not `never`) the client id and the
    /// secret, read from its file or from [`CLIENT_SECRET_ENV`], never from an argument.
    ///
    /// # Errors
    /// For an unknown mode or method, or missing credentials.
    pub fn introspection(&self) -> Result<Option<ProxyIntrospection>, String> {
        let mode = match self.introspect.as_deref() {
            None => IntrospectionMode::Never,
            Some(name) => IntrospectionMode::from_name(name)
                .ok_or_else(|| format!("--introspect {name}: expected never, non-jwt or always"))?,
        };
        if mode == IntrospectionMode::Never {
            return Ok(None);
        }
        let client_id = self.introspection_client_id.clone().ok_or_else(|| {
            format!(
                "--introspect {} needs --introspection-client-id",
                mode.name()
            )
        })?;
        let secret = match &self.introspection_client_secret_file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
            None => std::env::var(CLIENT_SECRET_ENV).map_err(|_| {
                format!(
                    "--introspect {} needs the client secret: --introspection-client-secret-file FILE or {CLIENT_SECRET_ENV}",
                    mode.name()
                )
            })?,
        };
        if secret.is_empty() {
            return Err("the introspection client secret is empty".into());
        }
        let client = match self.introspection_auth.as_deref().unwrap_or("basic") {
            "basic" => ClientAuthentication::ClientSecretBasic {
                client_id,
                client_secret: secret,
            },
            "post" => ClientAuthentication::ClientSecretPost {
                client_id,
                client_secret: secret,
            },
            other => {
                return Err(format!(
                    "--introspection-auth {other}: expected basic or post"
                ))
            }
        };
        Ok(Some(ProxyIntrospection {
            mode,
            client,
            cache_ttl: self.introspection_cache_ttl.map(Duration::from_secs),
        }))
    }
}

/// A required setting's value.
fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str, String> {
    value.ok_or_else(|| format!("--{name} is required (or `{name}` in --config)"))
}

/// `NAME=VALUE` pairs of a repeatable flag.
/// `policy` with the Cedar policies of `path` as its engine.
#[cfg(feature = "cedar")]
fn with_cedar(policy: ScopePolicy, path: &std::path::Path) -> Result<ScopePolicy, String> {
    let engine =
        mcp_authz_driver::CedarEngine::from_file(path).map_err(|e| format!("--policy {e}"))?;
    Ok(policy.with_engine(std::sync::Arc::new(engine)))
}

#[cfg(not(feature = "cedar"))]
fn with_cedar(_: ScopePolicy, path: &std::path::Path) -> Result<ScopePolicy, String> {
    Err(format!(
        "--policy {}: this build has no Cedar support (build with the cedar feature)",
        path.display()
    ))
}

/// Reads "NAME REQUIREMENT" values.
fn rules(values: &[String], flag: &str, what: &str) -> Result<Vec<(String, Requirement)>, String> {
    values
        .iter()
        .map(|v| {
            let (name, rule) = v
                .trim()
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("{flag} {v:?}: expected \"{what} REQUIREMENT\""))?;
            let rule = rule
                .parse::<Requirement>()
                .map_err(|e| format!("{flag} {v:?}: {e}"))?;
            Ok((name.to_owned(), rule))
        })
        .collect()
}

/// Adds `rule` to what `name` needs: every set of the result holds both.
fn conjoin(map: &mut BTreeMap<String, Requirement>, name: String, rule: Requirement) {
    let combined = match map.remove(&name) {
        None => rule,
        Some(old) => {
            let mut out: Option<Requirement> = None;
            for a in old.sets() {
                for b in rule.sets() {
                    let set = a.iter().chain(b).cloned();
                    out = Some(match out {
                        None => Requirement::all(set),
                        Some(r) => r.or(set),
                    });
                }
            }
            out.unwrap_or(rule)
        }
    };
    map.insert(name, combined);
}

fn pairs(values: &[String], flag: &str, form: &str) -> Result<Vec<(String, String)>, String> {
    values
        .iter()
        .map(|v| match v.split_once('=') {
            Some((name, value)) if !name.is_empty() && !value.is_empty() => {
                Ok((name.to_owned(), value.to_owned()))
            }
            _ => Err(format!("{flag} {v}: expected {form}")),
        })
        .collect()
}
