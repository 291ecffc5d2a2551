//! The authorization options, one type for every adapter: [`AuthzOptions`] holds them with their
//! defaults, and [`authz_options_setters!`](crate::authz_options_setters) gives each adapter's
//! builder the same setters, with the same names and documentation, written once here.

use std::sync::Arc;
use std::time::Duration;

use mcp_authz_core::access_token::TenantPolicy;
use mcp_authz_core::as_metadata::MetadataPolicy;
use mcp_authz_core::jwks_refresh::JwksRefreshConfig;
use mcp_authz_core::token_cache::TokenCacheLimits;
use mcp_authz_core::{Guard, ProtectedResourceMetadata, ScopePolicy, TypPolicy, VerifierConfig};

use crate::discovery::{ServerSource, StartupError, TrustedServer};
use crate::fetch::{FetchError, FetchOptions, HttpFetcher};
use crate::introspection::Introspector;
use mcp_authz_core::as_metadata::AuthorizationServerMetadata;
use mcp_authz_core::dpop::{DpopConfig, DpopMode, DpopNonces};
use mcp_authz_core::token_introspection::ClientAuthentication;
use mcp_authz_core::{IntrospectionConfig, IntrospectionMode};

/// Entra ID's v1 issuer for a v2 one (`https://login.microsoftonline.com/{t}/v2.0` →
/// `https://sts.windows.net/{t}/`): the same keys sign both token versions.
pub(crate) fn entra_v1_issuer(v2: &str) -> Option<String> {
    let tenant = v2
        .strip_prefix("https://login.microsoftonline.com/")?
        .strip_suffix("/v2.0")?;
    (!tenant.is_empty() && !tenant.contains('/'))
        .then(|| format!("https://sts.windows.net/{tenant}/"))
}

/// Edits the protected-resource metadata document.
pub type MetadataEdit =
    Arc<dyn Fn(ProtectedResourceMetadata) -> ProtectedResourceMetadata + Send + Sync>;

/// Every authorization option an adapter takes, with its default. Set them through the
/// adapter's builder (`mcp_authz_hyper::Authz::builder`, `mcp_authz_lambda::LambdaAuthz::builder`);
/// the fields are public for the adapters and the setter macro, not for direct use.
#[derive(Clone)]
#[non_exhaustive]
pub struct AuthzOptions {
    /// The authorization servers, in the configured order.
    pub servers: Vec<ServerSource>,
    /// The tenants a tenant-templated issuer accepts (Entra ID multi-tenant).
    pub tenants: Vec<String>,
    /// Accept every tenant of a tenant-templated issuer.
    pub any_tenant: bool,
    /// Also accept Entra ID v1 tokens (`https://sts.windows.net/{tid}/`) from Entra v2 issuers.
    pub entra_v1_issuers: bool,
    /// The scope policy (default: no scope required).
    pub scopes: ScopePolicy,
    /// How the metadata is judged.
    pub metadata_policy: MetadataPolicy,
    /// HTTP client options.
    pub fetch: FetchOptions,
    /// The JWK Set refresh policy.
    pub refresh: JwksRefreshConfig,
    /// The verified-token cache (on by default).
    pub cache: Option<TokenCacheLimits>,
    /// Keep the `Authorization` header for the inner service (off by default).
    pub keep_authorization: bool,
    /// How long a request with an unknown `kid` waits for the key refresh (default 5 s).
    pub kid_wait: Duration,
    /// Refuse to start without keys (off by default).
    pub require_keys: bool,
    /// Start before the authorization servers answer (`readiness`).
    pub lazy_start: bool,
    /// The resource's name in metrics, when one process protects several.
    pub route_name: Option<String>,
    /// The limit on every caller's requests (`mcp_authz_core::rate_limit`).
    pub rate_limit: Option<mcp_authz_core::rate_limit::RateLimit>,
    /// Limits on every caller's calls of these tools.
    pub tool_rate_limits: Vec<(String, mcp_authz_core::rate_limit::RateLimit)>,
    /// Where rate limits, DPoP proofs seen and session owners are kept: `None` in this process,
    /// else a Redis URL.
    pub store: Option<String>,
    /// When the store cannot be reached: refuse (503) instead of applying no limit.
    pub rate_limit_fail_closed: bool,
    /// When the store cannot be reached: take DPoP proofs as new and sessions as unbound,
    /// instead of the default, refusing (503) the requests that need them.
    pub state_fail_open: bool,
    /// Keep introspection answers in the store too, for every replica (only with a Redis
    /// store; off by default).
    pub share_introspection: bool,
    /// The token exchange that gives allowed requests tokens of downstream APIs
    /// (`crate::token_exchange`), if any.
    pub token_exchange: Option<TokenExchangeOptions>,
    /// Which `typ` values tokens may carry.
    pub typ: TypPolicy,
    /// Clock-skew leeway, in seconds (default 60).
    pub leeway_secs: Option<u64>,
    /// The longest token lifetime accepted (default: no limit).
    pub max_token_lifetime: Option<Duration>,
    /// `resource_name` of the protected-resource metadata.
    pub resource_name: Option<String>,
    /// Edits of the protected-resource metadata.
    pub edit_metadata: Option<MetadataEdit>,
    /// Paths served without a token.
    pub public_paths: Vec<String>,
    /// The largest JSON-RPC body read for the scope policy (default 1 MiB).
    pub max_body_bytes: Option<usize>,
    /// Validate the MCP request headers of 2026-07-28 requests for any upstream.
    pub validate_mcp_headers: bool,
    /// Exact audiences accepted besides the resource.
    pub audiences: Vec<String>,
    /// Clients whose tokens are accepted without any `aud`.
    pub audienceless_clients: Vec<String>,
    /// The prefix under which `roles` become scopes (`None`: roles are not read).
    pub roles_as_scopes: Option<String>,
    /// Which tokens are introspected (RFC 7662; default: none).
    pub introspection: IntrospectionMode,
    /// How the resource server authenticates to the introspection endpoint.
    pub introspection_client: Option<ClientAuthentication>,
    /// The introspection endpoint, instead of the metadata's.
    pub introspection_endpoint: Option<String>,
    /// Accept introspection responses without `exp`.
    pub introspection_allow_missing_exp: bool,
    /// How long positive and negative introspection answers are kept.
    pub introspection_ttl: Option<(Duration, Duration)>,
    /// Origins served besides the resource's own.
    pub allowed_origins: Vec<String>,
    /// Serve `Origin: null`.
    pub allow_null_origin: bool,
    /// Whether DPoP-bound tokens are taken (RFC 9449).
    pub dpop: DpopMode,
    /// Server nonces for DPoP proofs, under this secret.
    pub dpop_nonce_secret: Option<[u8; 32]>,
}

impl Default for AuthzOptions {
    fn default() -> Self {
        Self {
            servers: Vec::new(),
            tenants: Vec::new(),
            any_tenant: false,
            entra_v1_issuers: false,
            scopes: ScopePolicy::default(),
            metadata_policy: MetadataPolicy::new(),
            fetch: FetchOptions::default(),
            refresh: JwksRefreshConfig::default(),
            cache: Some(TokenCacheLimits::default()),
            keep_authorization: false,
            kid_wait: Duration::from_secs(5),
            require_keys: false,
            lazy_start: false,
            route_name: None,
            rate_limit: None,
            tool_rate_limits: Vec::new(),
            store: None,
            rate_limit_fail_closed: false,
            state_fail_open: false,
            share_introspection: false,
            token_exchange: None,
            typ: TypPolicy::default(),
            leeway_secs: None,
            max_token_lifetime: None,
            resource_name: None,
            edit_metadata: None,
            public_paths: Vec::new(),
            max_body_bytes: None,
            validate_mcp_headers: false,
            audiences: Vec::new(),
            audienceless_clients: Vec::new(),
            roles_as_scopes: None,
            introspection: IntrospectionMode::Never,
            introspection_client: None,
            introspection_endpoint: None,
            introspection_allow_missing_exp: false,
            introspection_ttl: None,
            allowed_origins: Vec::new(),
            allow_null_origin: false,
            dpop: DpopMode::Off,
            dpop_nonce_secret: None,
        }
    }
}

impl std::fmt::Debug for AuthzOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthzOptions")
            .field("servers", &self.servers)
            .field("tenants", &self.tenants)
            .field("scopes", &self.scopes)
            .field("public_paths", &self.public_paths)
            .finish_non_exhaustive()
    }
}

impl AuthzOptions {
    /// The HTTP client these options describe.
    ///
    /// # Errors
    /// When the TLS configuration cannot be built.
    pub fn fetcher(&self) -> Result<HttpFetcher, FetchError> {
        HttpFetcher::new(self.fetch)
    }

    /// The verifier configuration for tokens from `issuer` to `resource`.
    pub fn verifier_config(&self, issuer: &str, resource: &str) -> VerifierConfig {
        let mut config = VerifierConfig::new(issuer, resource)
            .with_typ_policy(self.typ)
            .with_max_lifetime_secs(self.max_token_lifetime.map(|d| d.as_secs()))
            .with_audiences(self.audiences.clone())
            .with_audienceless_clients(self.audienceless_clients.clone())
            .with_roles_as_scopes(self.roles_as_scopes.clone());
        if let Some(l) = self.leeway_secs {
            config = config.with_leeway_secs(l);
        }
        config = match self.any_tenant {
            true => config.with_any_tenant(),
            false => config.with_tenants(self.tenants.clone()),
        };
        if self.entra_v1_issuers {
            if let Some(v1) = entra_v1_issuer(issuer) {
                config = config.with_additional_issuer(v1);
            }
        }
        config
    }

    /// The servers of an offline build: every source must be an issuer.
    ///
    /// # Errors
    /// [`StartupError::Config`] without any issuer, or with a metadata URL.
    pub fn offline_servers(&self) -> Result<Vec<TrustedServer>, StartupError> {
        let servers: Option<Vec<TrustedServer>> = self
            .servers
            .iter()
            .map(|s| match s {
                ServerSource::Issuer(i) => Some(TrustedServer::new(i.clone())),
                ServerSource::MetadataUrl(_) => None,
            })
            .collect();
        match servers {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(StartupError::Config(
                "an offline build needs the issuers tokens must name, and no metadata URL: set .issuer(…)".into(),
            )),
        }
    }

    /// The guard trusting `servers` (in order) for `resource`, with the scope policy, the
    /// metadata edits and `resource_name`, the body limit, and the public paths, each behind
    /// `path_prefix` (a stage or base path the adapter sees in front of the application's paths;
    /// empty when there is none).
    ///
    /// # Errors
    /// [`StartupError::Config`] when there is no server, or a tenant-templated issuer has
    /// neither a tenant allow-list nor `allow_any_tenant`.
    pub fn guard(
        &self,
        servers: &[TrustedServer],
        resource: &str,
        path_prefix: &str,
    ) -> Result<Guard, StartupError> {
        let mut configs = servers
            .iter()
            .map(|s| self.verifier_config(&s.issuer, resource));
        let Some(first) = configs.next() else {
            return Err(StartupError::Config(
                "no authorization server configured".into(),
            ));
        };
        let mut guard = Guard::new(first, self.scopes.clone())
            .with_introspection(self.introspection)
            .with_allowed_origins(self.allowed_origins.clone())
            .with_null_origin(self.allow_null_origin)
            .with_dpop(self.dpop, self.dpop_config());
        for config in configs {
            guard = guard.with_issuer(config);
        }
        if let Some(v) = guard.verifiers().find(|v| {
            v.config().has_tenant_template()
                && *v.config().tenant_policy() == TenantPolicy::Listed(Vec::new())
        }) {
            return Err(StartupError::Config(format!(
                "the issuer {} is a tenant template (multi-tenant metadata): give the tenants to accept (tenants / --tenant TID), or accept every tenant explicitly (allow_any_tenant / --allow-any-tenant)",
                v.config().issuer()
            )));
        }
        let advertised: Vec<&str> = servers.iter().map(|s| s.advertised.as_str()).collect();
        guard = guard.with_metadata(|m| m.with_authorization_servers(advertised));
        if let Some(name) = &self.resource_name {
            guard = guard.with_metadata(|m| m.with_resource_name(name.clone()));
        }
        if let Some(edit) = &self.edit_metadata {
            guard = guard.with_metadata(|m| edit(m));
        }
        guard = guard.with_mcp_header_validation(self.validate_mcp_headers);
        // A tool's calls are counted only if every body is read.
        guard = guard.with_bodies_read(!self.tool_rate_limits.is_empty());
        if let Some(max) = self.max_body_bytes {
            guard = guard.with_max_body_bytes(max);
        }
        for path in &self.public_paths {
            guard = guard
                .with_public_path(format!("{path_prefix}{path}"))
                .map_err(|e| StartupError::Config(e.to_string()))?;
        }
        Ok(guard)
    }

    /// Where rate limits, DPoP proofs and session owners are kept: in this process, or in the
    /// Redis store configured.
    ///
    /// # Errors
    /// [`StartupError::Config`] for a store URL that is not a Redis URL, or a store given to a
    /// build without the `redis` feature.
    pub(crate) fn state_store(&self) -> Result<crate::store::Store, StartupError> {
        if self.share_introspection && self.store.is_none() {
            return Err(StartupError::Config(
                "--share-introspection needs a shared store: --store redis://HOST:PORT/DB".into(),
            ));
        }
        match &self.store {
            None => Ok(crate::store::Store::memory()),
            #[cfg(feature = "redis")]
            Some(url) => crate::store::RedisStore::new(url)
                .map(|r| crate::store::Store::Redis(Box::new(r)))
                .map_err(StartupError::Config),
            #[cfg(not(feature = "redis"))]
            Some(url) => Err(StartupError::Config(format!(
                "--store {url}: this build has no Redis store (feature `redis`)"
            ))),
        }
    }

    /// The token exchanger the options ask for: `None` without a token exchange, else one at
    /// the configured endpoint or the token endpoint the first server's `metadata` states.
    ///
    /// # Errors
    /// [`StartupError::Config`] without an endpoint (none configured, no metadata), with
    /// `private_key_jwt` and no key, or at a URL the fetcher refuses.
    pub fn token_exchanger(
        &self,
        metadata: Option<&AuthorizationServerMetadata>,
        fetcher: &HttpFetcher,
    ) -> Result<Option<Arc<crate::token_exchange::TokenExchanger>>, StartupError> {
        use mcp_authz_core::token_exchange::{AssertionSigner, ExchangeClient, ExchangeConfig};
        let Some(x) = &self.token_exchange else {
            return Ok(None);
        };
        let endpoint = x
            .endpoint
            .as_deref()
            .or_else(|| metadata.map(AuthorizationServerMetadata::token_endpoint))
            .ok_or_else(|| {
                StartupError::Config(
                    "a token exchange needs the authorization server's token endpoint: its metadata, or token_exchange_endpoint".into(),
                )
            })?;
        fetcher
            .check_url(endpoint)
            .map_err(|e| StartupError::Config(format!("the token endpoint {endpoint}: {e}")))?;
        if matches!(x.client, ExchangeClient::PrivateKeyJwt { .. }) && x.signer.is_none() {
            return Err(StartupError::Config(
                "a token exchange with private_key_jwt needs the client's private key".into(),
            ));
        }
        let config = ExchangeConfig::new(endpoint, x.profile, x.client.clone());
        let signer = x
            .signer
            .clone()
            .map(|s| s as Arc<dyn AssertionSigner + Send>);
        Ok(Some(Arc::new(crate::token_exchange::TokenExchanger::new(
            config,
            fetcher.clone(),
            signer,
        ))))
    }

    /// How DPoP proofs are checked: the defaults, with server nonces when a secret is set.
    pub fn dpop_config(&self) -> DpopConfig {
        match self.dpop_nonce_secret {
            Some(secret) => DpopConfig::default().with_nonces(DpopNonces::new(secret, 300)),
            None => DpopConfig::default(),
        }
    }

    /// The introspector the options ask for: `None` when nothing is introspected, else one for
    /// the first authorization server, at the configured endpoint or the one its `metadata`
    /// states.
    ///
    /// # Errors
    /// [`StartupError::Config`] when introspection is asked for without an endpoint (none
    /// configured, none in the metadata), without client credentials, or at a URL the fetcher
    /// refuses.
    pub fn introspector(
        &self,
        metadata: Option<&AuthorizationServerMetadata>,
        fetcher: &HttpFetcher,
    ) -> Result<Option<Arc<Introspector>>, StartupError> {
        if self.introspection == IntrospectionMode::Never {
            return Ok(None);
        }
        let mode = self.introspection.name();
        let endpoint = self
            .introspection_endpoint
            .as_deref()
            .or_else(|| metadata.and_then(|m| m.introspection_endpoint()))
            .ok_or_else(|| {
                StartupError::Config(format!(
                    "introspection ({mode}) needs the authorization server's introspection_endpoint, and its metadata has none"
                ))
            })?;
        fetcher.check_url(endpoint).map_err(|e| {
            StartupError::Config(format!("the introspection endpoint {endpoint}: {e}"))
        })?;
        let client = self.introspection_client.clone().ok_or_else(|| {
            StartupError::Config(format!(
                "introspection ({mode}) needs the resource server's client credentials at the authorization server"
            ))
        })?;
        let mut config = IntrospectionConfig::new(endpoint, client)
            .allow_missing_exp(self.introspection_allow_missing_exp);
        if let Some((positive, negative)) = self.introspection_ttl {
            config = config
                .with_max_ttl_secs(positive.as_secs())
                .with_negative_ttl_secs(negative.as_secs());
        }
        Ok(Some(Arc::new(Introspector::new(config, fetcher.clone()))))
    }

    /// Logs, loudly, what the options accept beyond the MCP specification's rules (once, at
    /// start-up).
    pub fn warn_about_relaxations(&self) {
        if !self.audienceless_clients.is_empty() {
            tracing::warn!(target: "mcp_authz", clients = ?self.audienceless_clients, "tokens WITHOUT an audience are accepted from these clients: such a token is valid for every resource of its issuer, not only this one");
        }
        if self.any_tenant {
            tracing::warn!(target: "mcp_authz", "EVERY tenant of the tenant-templated issuers is accepted: users of any organisation can call this resource");
        }
        if !self.audiences.is_empty() {
            tracing::info!(target: "mcp_authz", audiences = ?self.audiences, "audiences accepted besides the resource");
        }
    }
}

/// The setters of the authorization options, for an adapter's builder: invoked inside an
/// `impl` block of a type with a field `options: AuthzOptions`, it defines the same methods with
/// the same documentation in every adapter.
#[doc(hidden)]
#[macro_export]
macro_rules! authz_options_setters {
    () => {
        /// An authorization server's RFC 8414 (or OIDC Discovery) metadata URL. Repeatable:
        /// each call adds a server (as does [`issuer`](Self::issuer)), listed in the
        /// protected-resource metadata in the order given. Each has its own metadata, keys and
        /// refresh policy; a token is verified by the server its `iss` names, with that
        /// server's keys alone.
        #[must_use]
        pub fn metadata_url(mut self, url: impl Into<String>) -> Self {
            self.options
                .servers
                .push($crate::ServerSource::MetadataUrl(url.into()));
            self
        }

        /// An authorization server by its issuer: its metadata is looked up at the well-known
        /// URLs MCP clients try, in their order. Repeatable, like
        /// [`metadata_url`](Self::metadata_url). With `build_offline`, the issuer tokens must name.
        #[must_use]
        pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
            self.options
                .servers
                .push($crate::ServerSource::Issuer(issuer.into()));
            self
        }

        /// The tenants (`tid`) accepted from a tenant-templated issuer: Entra ID's multi-tenant
        /// metadata (`…/common/v2.0`, `…/organizations/v2.0`), whose issuer is
        /// `https://login.microsoftonline.com/{tenantid}/v2.0`. A token is accepted only when its
        /// `iss` is that template with its own `tid`, and the `tid` is listed. Without tenants
        /// (or [`allow_any_tenant`](Self::allow_any_tenant)), such a server refuses to start.
        #[must_use]
        pub fn tenants<I: IntoIterator<Item = S>, S: Into<String>>(mut self, tenants: I) -> Self {
            self.options.tenants = tenants.into_iter().map(Into::into).collect();
            self
        }

        /// **Accepts every tenant** of a tenant-templated issuer (the `iss`/`tid` match is still
        /// required); logged as a warning at start-up.
        #[must_use]
        pub fn allow_any_tenant(mut self, yes: bool) -> Self {
            self.options.any_tenant = yes;
            self
        }

        /// Also accepts Entra ID v1 tokens (`iss` = `https://sts.windows.net/{tid}/`) from each
        /// Entra ID v2 issuer (`https://login.microsoftonline.com/{tid}/v2.0`, or its tenant
        /// template): an application whose manifest has `accessTokenAcceptedVersion` 1 or
        /// unset gets v1 tokens, signed by the same keys.
        #[must_use]
        pub fn entra_v1_issuers(mut self, yes: bool) -> Self {
            self.options.entra_v1_issuers = yes;
            self
        }

        /// The scope policy (default: no scope required).
        #[must_use]
        pub fn scopes(mut self, scopes: $crate::ScopePolicy) -> Self {
            self.options.scopes = scopes;
            self
        }

        /// Accept metadata with neither `registration_endpoint` nor
        /// `client_id_metadata_document_supported: true` (Entra ID, Google: clients are
        /// registered beforehand). Metadata with either needs no option.
        #[must_use]
        pub fn allow_missing_registration(mut self, yes: bool) -> Self {
            self.options.metadata_policy =
                self.options.metadata_policy.allow_missing_registration(yes);
            self
        }

        /// Accept plain `http` to loopback hosts (development only), for metadata and keys.
        #[must_use]
        pub fn allow_http_loopback(mut self, yes: bool) -> Self {
            self.options.metadata_policy = self.options.metadata_policy.allow_http_loopback(yes);
            self.options.fetch = self.options.fetch.allow_http_loopback(yes);
            self
        }

        /// HTTP client options (timeouts). `allow_http_loopback` stays as set.
        #[must_use]
        pub fn fetch_options(mut self, options: $crate::FetchOptions) -> Self {
            let loopback = self.options.fetch.allow_http_loopback;
            self.options.fetch =
                options.allow_http_loopback(options.allow_http_loopback || loopback);
            self
        }

        /// The JWK Set refresh policy.
        #[must_use]
        pub fn refresh(mut self, config: $crate::JwksRefreshConfig) -> Self {
            self.options.refresh = config;
            self
        }

        /// The verified-token cache (on by default); `None` turns it off.
        #[must_use]
        pub fn token_cache(mut self, limits: Option<$crate::TokenCacheLimits>) -> Self {
            self.options.cache = limits;
            self
        }

        /// Keep the `Authorization` header for the inner service (off by default: MCP forbids
        /// passing the client's token on).
        #[must_use]
        pub fn keep_authorization(mut self, yes: bool) -> Self {
            self.options.keep_authorization = yes;
            self
        }

        /// How long a request with an unknown `kid` waits for the key refresh (default 5 s).
        #[must_use]
        pub fn kid_wait(mut self, wait: std::time::Duration) -> Self {
            self.options.kid_wait = wait;
            self
        }

        /// Refuse to start when the first JWK Set fetch fails (default: start anyway and
        /// answer 503 + `Retry-After` until keys arrive).
        #[must_use]
        pub fn require_keys_at_startup(mut self, yes: bool) -> Self {
            self.options.require_keys = yes;
            self
        }

        /// Start before the authorization servers answer (default: off, the build fetches and
        /// validates their metadata first and fails when it cannot). On, the build returns at
        /// once with the issuer each metadata URL implies (RFC 8414 §3.1): the
        /// protected-resource metadata and the `401` challenges are served, requests with a
        /// token get `503` + `Retry-After` until that server's metadata is validated and its
        /// keys loaded, retried in the background with capped exponential backoff and
        /// jitter. A document that is invalid keeps it unready, with the reason in the log and
        /// the readiness report. Needs the tokio runtime the server runs on.
        #[must_use]
        pub fn lazy_start(mut self, yes: bool) -> Self {
            self.options.lazy_start = yes;
            self
        }

        /// The protected resource's name, as the `route` label of the decision metrics
        /// (`mcp_authz_decisions_total`, `mcp_authz_decision_seconds`), for a process that
        /// protects several (default: empty).
        #[must_use]
        pub fn route_name(mut self, name: impl Into<String>) -> Self {
            self.options.route_name = Some(name.into());
            self
        }

        /// Limits every caller (issuer and subject, or client id) to `limit` requests, e.g.
        /// `"60/min burst=10".parse()`. Over it: `429` with `Retry-After`, `RateLimit-Policy`
        /// and `RateLimit`, and a JSON-RPC error; never forwarded. Counted per process (default:
        /// no limit).
        #[must_use]
        pub fn rate_limit(mut self, limit: mcp_authz_core::rate_limit::RateLimit) -> Self {
            self.options.rate_limit = Some(limit);
            self
        }

        /// Limits every caller's calls of tool `name` to `limit` (besides [`Self::rate_limit`];
        /// the body is read to know the tool, as for tool scopes).
        #[must_use]
        pub fn tool_rate_limit(
            mut self,
            name: impl Into<String>,
            limit: mcp_authz_core::rate_limit::RateLimit,
        ) -> Self {
            self.options.tool_rate_limits.push((name.into(), limit));
            self
        }

        /// Keeps the rate limits, the DPoP proofs seen (RFC 9449 §11.1) and the MCP session
        /// owners in Redis (or Valkey) at `url` (`redis://HOST:PORT/DB`, `rediss://` for TLS),
        /// shared by every replica given the same URL, instead of in this process. Needs the
        /// `redis` feature. Keys are hashes, never tokens, and expire.
        #[must_use]
        pub fn store(mut self, url: impl Into<String>) -> Self {
            self.options.store = Some(url.into());
            self
        }

        /// When the rate-limit store cannot be reached: refuse requests (`503` +
        /// `Retry-After`) instead of the default, applying no limit until it is back.
        #[must_use]
        pub fn rate_limits_fail_closed(mut self, yes: bool) -> Self {
            self.options.rate_limit_fail_closed = yes;
            self
        }

        /// When the store cannot be reached: take DPoP proofs as new (replays across replicas
        /// go unnoticed) and sessions as unbound (the MCP server judges their ids) instead of
        /// the default, refusing the requests that need them (`503` + `Retry-After`).
        #[must_use]
        pub fn state_fail_open(mut self, yes: bool) -> Self {
            self.options.state_fail_open = yes;
            self
        }

        /// With [`Self::store`]: keeps introspection answers in the store too, so that replicas
        /// ask the authorization server once per token between them and all see a revocation
        /// at the same moment (at most the positive TTL after it). Whoever can write to the
        /// store can then make tokens active: give it the access the authorization server has.
        #[must_use]
        pub fn share_introspection(mut self, yes: bool) -> Self {
            self.options.share_introspection = yes;
            self
        }

        /// Gives every request allowed with a token the tokens of downstream APIs for its caller
        /// (`DownstreamTokens` in the request's extensions): exchanged at the first
        /// authorization server's token endpoint with `profile` (RFC 8693, or Entra
        /// on-behalf-of), authenticated as `client`; cached per caller and target. For
        /// `private_key_jwt`, add [`Self::token_exchange_key`].
        #[must_use]
        pub fn token_exchange(
            mut self,
            profile: $crate::ExchangeProfile,
            client: $crate::ExchangeClient,
        ) -> Self {
            self.options.token_exchange = Some($crate::TokenExchangeOptions {
                profile,
                client,
                signer: self.options.token_exchange.take().and_then(|x| x.signer),
                endpoint: None,
            });
            self
        }

        /// The private key that signs this client's assertions (`private_key_jwt`), after
        /// [`Self::token_exchange`].
        #[must_use]
        pub fn token_exchange_key(mut self, key: $crate::KeySigner) -> Self {
            if let Some(x) = self.options.token_exchange.as_mut() {
                x.signer = Some(std::sync::Arc::new(key));
            }
            self
        }

        /// The token endpoint to exchange at, instead of the metadata's (needed offline), after
        /// [`Self::token_exchange`].
        #[must_use]
        pub fn token_exchange_endpoint(mut self, url: impl Into<String>) -> Self {
            if let Some(x) = self.options.token_exchange.as_mut() {
                x.endpoint = Some(url.into());
            }
            self
        }

        /// Which `typ` values tokens may carry (default: `at+jwt` only).
        #[must_use]
        pub fn typ_policy(mut self, typ: $crate::TypPolicy) -> Self {
            self.options.typ = typ;
            self
        }

        /// Clock-skew leeway in seconds (default 60).
        #[must_use]
        pub fn leeway_secs(mut self, secs: u64) -> Self {
            self.options.leeway_secs = Some(secs);
            self
        }

        /// Refuse tokens that live longer than `max` (`exp − iat`, or `exp − now` without
        /// `iat`); `None` (the default) sets no limit.
        #[must_use]
        pub fn max_token_lifetime(mut self, max: Option<std::time::Duration>) -> Self {
            self.options.max_token_lifetime = max;
            self
        }

        /// `resource_name` in the protected-resource metadata.
        #[must_use]
        pub fn resource_name(mut self, name: impl Into<String>) -> Self {
            self.options.resource_name = Some(name.into());
            self
        }

        /// Edits the protected-resource metadata document further.
        #[must_use]
        pub fn resource_metadata(
            mut self,
            edit: impl Fn($crate::ProtectedResourceMetadata) -> $crate::ProtectedResourceMetadata
                + Send
                + Sync
                + 'static,
        ) -> Self {
            self.options.edit_metadata = Some(std::sync::Arc::new(edit));
            self
        }

        /// Serves `path` without a token (exact match, any method), e.g. `/healthz`
        /// (repeatable). Everything else the adapter wraps needs a valid token, except the
        /// metadata documents and the resource's CORS preflight.
        #[must_use]
        pub fn public_path(mut self, path: impl Into<String>) -> Self {
            self.options.public_paths.push(path.into());
            self
        }

        /// Also accepts tokens whose `aud` is exactly one of `audiences` (the resource itself
        /// stays accepted): an Entra application ID (a GUID or `api://…`), an Auth0 API
        /// identifier, a Keycloak client id set by an audience mapper.
        #[must_use]
        pub fn audiences<I: IntoIterator<Item = S>, S: Into<String>>(
            mut self,
            audiences: I,
        ) -> Self {
            self.options.audiences = audiences.into_iter().map(Into::into).collect();
            self
        }

        /// **Accepts tokens without any `aud`** when their `client_id` (or `azp`, `cid`) is
        /// one of `clients`: for authorization servers that issue none (Amazon Cognito,
        /// Keycloak dynamic clients). Never implied; logged as a warning at start-up, since
        /// such a token is valid for every resource of its issuer.
        #[must_use]
        pub fn audienceless_clients<I: IntoIterator<Item = S>, S: Into<String>>(
            mut self,
            clients: I,
        ) -> Self {
            self.options.audienceless_clients = clients.into_iter().map(Into::into).collect();
            self
        }

        /// Also reads the `roles` claim (Entra ID app roles) as scopes, each with `prefix` in
        /// front (`""` for as-is); `None` (the default) does not read it.
        #[must_use]
        pub fn roles_as_scopes(mut self, prefix: Option<String>) -> Self {
            self.options.roles_as_scopes = prefix;
            self
        }

        /// Which access tokens are introspected (RFC 7662) at the first authorization server's
        /// `introspection_endpoint` instead of verified as JWTs: `Never` (the default),
        /// `NonJwt` (tokens that are not compact JWS), `Always`. Needs
        /// [`introspection_client`](Self::introspection_client); answers are cached (positive
        /// until `min(exp, 300 s)`, negative 10 s), one call per token at a time, and an
        /// authorization server that cannot answer gives 503, never 401.
        #[must_use]
        pub fn introspection(mut self, mode: $crate::IntrospectionMode) -> Self {
            self.options.introspection = mode;
            self
        }

        /// The resource server's credentials at the introspection endpoint
        /// (`client_secret_basic` or `client_secret_post`). Never logged.
        #[must_use]
        pub fn introspection_client(mut self, auth: $crate::ClientAuthentication) -> Self {
            self.options.introspection_client = Some(auth);
            self
        }

        /// The introspection endpoint, instead of the metadata's `introspection_endpoint`
        /// (needed offline).
        #[must_use]
        pub fn introspection_endpoint(mut self, url: impl Into<String>) -> Self {
            self.options.introspection_endpoint = Some(url.into());
            self
        }

        /// Accept introspection responses without `exp` (off by default: such a token then
        /// lives here as long as its cache entry).
        #[must_use]
        pub fn introspection_allow_missing_exp(mut self, yes: bool) -> Self {
            self.options.introspection_allow_missing_exp = yes;
            self
        }

        /// How long introspection answers are kept: positive ones at most `positive` (default
        /// 300 s; a revoked token is refused at most this long after its revocation), negative
        /// ones `negative` (default 10 s).
        #[must_use]
        pub fn introspection_cache_ttl(
            mut self,
            positive: std::time::Duration,
            negative: std::time::Duration,
        ) -> Self {
            self.options.introspection_ttl = Some((positive, negative));
            self
        }

        /// Also serves browsers' requests from these origins (`scheme://host[:port]`), e.g. an MCP
        /// inspector's. By default only the resource's own origin is, and requests without
        /// `Origin`; any other is 403 (MCP Streamable HTTP: servers must validate `Origin`).
        #[must_use]
        pub fn allowed_origins<I: IntoIterator<Item = S>, S: Into<String>>(
            mut self,
            origins: I,
        ) -> Self {
            self.options.allowed_origins = origins.into_iter().map(Into::into).collect();
            self
        }

        /// Takes DPoP-bound access tokens (RFC 9449): `Off` (the default: Bearer only), `Allowed`
        /// (Bearer, and DPoP with its proof), `Required` (DPoP only). In every mode a token bound
        /// to a key (`cnf`) is refused as a bearer token. Proofs are checked against the public
        /// URL, with a per-process replay cache (replicas do not share it).
        #[must_use]
        pub fn dpop(mut self, mode: $crate::DpopMode) -> Self {
            self.options.dpop = mode;
            self
        }

        /// Requires server nonces in DPoP proofs (RFC 9449 §9), made under `secret`: give every
        /// replica the same secret and a proof replayed against another replica is refused once
        /// its nonce window (300 s) has passed; a proof without a current nonce gets 401
        /// `use_dpop_nonce` with a fresh `DPoP-Nonce` header.
        #[must_use]
        pub fn dpop_nonce_secret(mut self, secret: [u8; 32]) -> Self {
            self.options.dpop_nonce_secret = Some(secret);
            self
        }

        /// Also serves `Origin: null` (sandboxed frames, `file:` pages); off by default.
        #[must_use]
        pub fn allow_null_origin(mut self, yes: bool) -> Self {
            self.options.allow_null_origin = yes;
            self
        }

        /// The largest JSON-RPC body read for the scope policy (default 1 MiB; larger is 413).
        #[must_use]
        pub fn max_body_bytes(mut self, max: usize) -> Self {
            self.options.max_body_bytes = Some(max);
            self
        }

        /// Validate the MCP request headers for any inner service (off by default): a request
        /// that declares MCP 2026-07-28 or later has its body read, and `Mcp-Method` and
        /// `Mcp-Name` must be present and name its call (SEP-2243), else `400` with JSON-RPC
        /// `-32020`. A scope policy with method or tool scopes does this anyway.
        #[must_use]
        pub fn validate_mcp_headers(mut self, yes: bool) -> Self {
            self.options.validate_mcp_headers = yes;
            self
        }
    };
}

/// How allowed requests get tokens of downstream APIs (`AuthzOptions::token_exchange`).
#[derive(Debug, Clone)]
pub struct TokenExchangeOptions {
    /// RFC 8693, or Entra on-behalf-of.
    pub profile: mcp_authz_core::token_exchange::ExchangeProfile,
    /// How this resource server authenticates at the token endpoint.
    pub client: mcp_authz_core::token_exchange::ExchangeClient,
    /// The key of `private_key_jwt`.
    pub signer: Option<Arc<crate::token_exchange::KeySigner>>,
    /// The token endpoint, instead of the metadata's.
    pub endpoint: Option<String>,
}
