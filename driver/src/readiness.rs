//! Start in any order: the resource server serves before its authorization servers answer.
//!
//! In Kubernetes, compose files and systemd units the resource server and the identity provider
//! start in any order, and an outage of the provider at deploy time must not become a crash
//! loop. A lazy start ([`Authorizer::start_lazy`]) builds the guard from the issuer each metadata
//! URL implies ([RFC 8414 §3.1](https://www.rfc-editor.org/rfc/rfc8414#section-3.1)), so the
//! protected-resource metadata and the `401` challenges are served at once, while one task per
//! authorization server fetches and validates its metadata on the core's
//! [`Rediscovery`](mcp_authz_core::rediscovery::Rediscovery) schedule (capped exponential backoff
//! with jitter), then starts its keys. Until then its tokens get `503` + `Retry-After` (the keys
//! are missing) and nothing is forwarded.
//!
//! A document that is *invalid* (not unreachable), or names another issuer than its URL implies,
//! keeps the server unready with that reason. Validated metadata is checked again every hour;
//! a change of issuer or `jwks_uri` is refused and logged, and the first one kept.
//! [`Readiness`] says what is missing, for `/readyz`.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use mcp_authz_core::as_metadata::{issuer_from_metadata_url, AuthorizationServerMetadata};
use mcp_authz_core::rediscovery::{Rediscovery, RediscoveryConfig};
use serde_json::{json, Value};

use crate::discovery::{discover, ServerSource, StartupError, TrustedServer};
use crate::fetch::{now, HttpFetcher};
use crate::keys::{KeyStore, OnNewKeys, Refresh};
use crate::options::AuthzOptions;
use crate::request::Authorizer;

/// Where one authorization server stands in a lazy start.
#[derive(Debug, Clone)]
enum Phase {
    /// Not fetched yet, or the last fetch failed: `failures` in a row, the last one's reason.
    Discovering { failures: u32, last: Option<String> },
    /// The document was fetched but is not acceptable (or names another issuer).
    Invalid(String),
    /// Validated; its keys started.
    Validated(Arc<AuthorizationServerMetadata>),
}

/// One authorization server of a lazy start.
#[derive(Debug)]
struct Server {
    source: ServerSource,
    issuer: String,
    phase: Mutex<Phase>,
    keys: KeyStore,
}

impl Server {
    fn phase(&self) -> Phase {
        self.phase
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner) = phase;
    }
}

/// Whether every authorization server of a resource has validated metadata and keys (see the
/// module docs). A start that was not lazy is ready from the beginning.
#[derive(Debug, Default)]
pub struct Readiness {
    servers: Vec<Server>,
}

impl Readiness {
    /// Whether requests with a token can be decided: every server's metadata validated and its
    /// keys loaded.
    pub fn is_ready(&self) -> bool {
        self.servers
            .iter()
            .all(|s| matches!(s.phase(), Phase::Validated(_)) && s.keys.has_keys())
    }

    /// What `/readyz` answers: `ready`, and per authorization server its issuer, where its
    /// metadata stands (`validated`, `discovering`, `invalid`) with the reason, and whether its
    /// keys are loaded.
    pub fn report(&self) -> Value {
        let servers: Vec<Value> = self
            .servers
            .iter()
            .map(|s| {
                let (metadata, reason) = match s.phase() {
                    Phase::Validated(_) => ("validated", None),
                    Phase::Discovering { failures, last } => (
                        "discovering",
                        last.map(|l| format!("{failures} failed attempt(s), the last: {l}")),
                    ),
                    Phase::Invalid(why) => ("invalid", Some(why)),
                };
                let keys = if s.keys.has_keys() { "loaded" } else { "missing" };
                let source = match &s.source {
                    ServerSource::MetadataUrl(u) => u.clone(),
                    ServerSource::Issuer(i) => i.clone(),
                };
                let mut v = json!({"issuer": s.issuer, "source": source, "metadata": metadata, "keys": keys});
                if let (Some(reason), Some(o)) = (reason, v.as_object_mut()) {
                    o.insert("reason".into(), reason.into());
                }
                v
            })
            .collect();
        json!({"ready": self.is_ready(), "authorization_servers": servers})
    }

    /// The validated metadata of each server, in order, for those validated so far.
    pub fn metadata(&self) -> Vec<Arc<AuthorizationServerMetadata>> {
        self.servers
            .iter()
            .filter_map(|s| match s.phase() {
                Phase::Validated(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

/// The servers of a lazy start: each source with the issuer it implies (a metadata URL's by
/// RFC 8414 §3.1, or the configured issuer). `None` when some issuer cannot be known before its
/// metadata is read, so the start must discover first: a URL that is no well-known URL, or a
/// multi-tenant alias (`common`, `organizations`, `consumers`: Entra ID's metadata there names a
/// tenant template, not the URL's issuer), or introspection whose endpoint only the metadata
/// states.
///
/// # Errors
/// [`StartupError::Config`] without a source, or for two sources of one issuer.
pub fn lazy_servers(options: &AuthzOptions) -> Result<Option<Vec<TrustedServer>>, StartupError> {
    if options.servers.is_empty() {
        return Err(StartupError::Config(
            "give a metadata URL or an issuer".into(),
        ));
    }
    let introspects = options.introspection != mcp_authz_core::IntrospectionMode::Never;
    if introspects && options.introspection_endpoint.is_none() {
        return Ok(None);
    }
    // The token endpoint of an exchange comes from the metadata too.
    if options
        .token_exchange
        .as_ref()
        .is_some_and(|x| x.endpoint.is_none())
    {
        return Ok(None);
    }
    let mut servers: Vec<TrustedServer> = Vec::new();
    for source in &options.servers {
        let issuer = match source {
            ServerSource::MetadataUrl(url) => match issuer_from_metadata_url(url) {
                Ok(issuer) => issuer,
                Err(_) => return Ok(None),
            },
            ServerSource::Issuer(issuer) => issuer.clone(),
        };
        let alias = issuer
            .split('/')
            .any(|s| matches!(s, "common" | "organizations" | "consumers"));
        if alias {
            return Ok(None);
        }
        if servers.iter().any(|s| s.issuer == issuer) {
            return Err(StartupError::Config(format!(
                "two configured authorization servers have the issuer {issuer}"
            )));
        }
        servers.push(TrustedServer::new(issuer));
    }
    Ok(Some(servers))
}

impl Authorizer {
    /// An authorizer that starts before its authorization servers answer (see the module docs):
    /// `servers` from [`lazy_servers`], each discovered in the background, its keys started (and
    /// refreshed as `refresh` says, each change handed to `on_new_keys(issuer)`) once its
    /// metadata is validated. Must run on a tokio runtime.
    ///
    /// # Errors
    /// [`StartupError::Config`] for introspection without a configured endpoint (the endpoint
    /// would come from the metadata), or a configuration that cannot work.
    pub fn start_lazy(
        options: &AuthzOptions,
        fetcher: &HttpFetcher,
        servers: &[TrustedServer],
        refresh: Refresh,
        on_new_keys: impl Fn(usize) -> Option<OnNewKeys>,
    ) -> Result<(Self, Arc<Readiness>), StartupError> {
        let introspector = match options.introspection_endpoint {
            Some(_) => options.introspector(None, fetcher)?,
            None if options.introspection == mcp_authz_core::IntrospectionMode::Never => None,
            None => {
                return Err(StartupError::Config(
                    "introspection before the authorization server answers needs its endpoint configured (introspection_endpoint / --introspection-endpoint), or start with fail-fast".into(),
                ))
            }
        };
        options.warn_about_relaxations();
        let readiness = Arc::new(Readiness {
            servers: options
                .servers
                .iter()
                .zip(servers)
                .map(|(source, server)| Server {
                    source: source.clone(),
                    issuer: server.issuer.clone(),
                    phase: Mutex::new(Phase::Discovering {
                        failures: 0,
                        last: None,
                    }),
                    keys: KeyStore::deferred(),
                })
                .collect(),
        });
        let keys = readiness.servers.iter().map(|s| s.keys.clone()).collect();
        for i in 0..readiness.servers.len() {
            let task = Discovery {
                readiness: Arc::downgrade(&readiness),
                index: i,
                fetcher: fetcher.clone(),
                options: options.clone(),
                refresh,
                on_new_keys: on_new_keys(i),
            };
            tokio::spawn(task.run());
        }
        let exchanger = options.token_exchanger(None, fetcher)?;
        let authorizer = Self::new(keys, introspector, options)?.with_exchanger(exchanger);
        Ok((authorizer, readiness))
    }
}

/// The background discovery of one server of a lazy start; it ends when the readiness (the
/// authorizer's owner) is dropped.
struct Discovery {
    readiness: Weak<Readiness>,
    index: usize,
    fetcher: HttpFetcher,
    options: AuthzOptions,
    refresh: Refresh,
    on_new_keys: Option<OnNewKeys>,
}

impl Discovery {
    async fn run(self) {
        let mut schedule = Rediscovery::new(RediscoveryConfig::default(), now());
        loop {
            let wait = schedule
                .poll_timeout()
                .as_secs()
                .saturating_sub(now().as_secs());
            tokio::time::sleep(Duration::from_secs(wait)).await;
            let Some(readiness) = self.readiness.upgrade() else {
                return;
            };
            let Some(server) = readiness.servers.get(self.index) else {
                return;
            };
            let ok = self.attempt(server).await;
            crate::observe::discovery(&server.issuer, ok, readiness.is_ready());
            match ok {
                true => schedule.handle_validated(now()),
                false => schedule.handle_failed(now(), crate::keys::random()),
            }
        }
    }

    /// One fetch and validation; whether the server is validated afterwards.
    async fn attempt(&self, server: &Server) -> bool {
        let (url, issuer) = match &server.source {
            ServerSource::MetadataUrl(u) => (Some(u.as_str()), Some(server.issuer.as_str())),
            ServerSource::Issuer(i) => (None, Some(i.as_str())),
        };
        let expected = server.issuer.as_str();
        let found = discover(&self.fetcher, url, issuer, &self.options.metadata_policy).await;
        let previous = server.phase();
        if let Phase::Validated(known) = &previous {
            // Revalidation: the first validated document stays; a change is refused.
            match &found {
                Ok((_, m)) if m.issuer() == known.issuer() && m.jwks_uri() == known.jwks_uri() => {}
                Ok((at, m)) => {
                    tracing::error!(target: "mcp_authz", metadata_url = %at, issuer = m.issuer(), jwks_uri = m.jwks_uri(), kept_issuer = known.issuer(), kept_jwks_uri = known.jwks_uri(), "the authorization server's metadata changed its issuer or jwks_uri: refused, the first validated one is kept (restart to accept it)");
                    crate::observe::metadata_changed(expected);
                }
                Err(e) => {
                    tracing::warn!(target: "mcp_authz", issuer = expected, error = %e, "revalidating the authorization server's metadata failed; the validated one is kept");
                }
            }
            return true;
        }
        let (at, metadata) = match found {
            Ok((at, m)) if m.issuer() == expected => (at, m),
            Ok((at, m)) => {
                let why = format!(
                    "the metadata at {at} names the issuer {}, not {expected}",
                    m.issuer()
                );
                tracing::error!(target: "mcp_authz", reason = %why, "authorization server not usable; requests with a token get 503");
                server.set(Phase::Invalid(why));
                return false;
            }
            Err(e @ StartupError::Metadata { .. }) => {
                let why = e.to_string();
                tracing::error!(target: "mcp_authz", reason = %why, "authorization server not usable; requests with a token get 503");
                server.set(Phase::Invalid(why));
                return false;
            }
            Err(e) => {
                let failures = match previous {
                    Phase::Discovering { failures, .. } => failures.saturating_add(1),
                    _ => 1,
                };
                tracing::warn!(target: "mcp_authz", issuer = expected, failures, error = %e, "authorization server not reachable yet; retrying with backoff (requests with a token get 503)");
                server.set(Phase::Discovering {
                    failures,
                    last: Some(e.to_string()),
                });
                return false;
            }
        };
        let jwks_uri = metadata.jwks_uri().to_owned();
        let store = KeyStore::start(
            jwks_uri.clone(),
            self.fetcher.clone(),
            self.options.refresh,
            self.refresh,
            self.on_new_keys.clone(),
        )
        .await;
        if let Some(failure) = store.first_failure() {
            tracing::warn!(target: "mcp_authz", jwks_uri = %jwks_uri, failure = %failure, "no keys yet: requests with a token from this issuer get 503 until a fetch succeeds");
        }
        server.keys.resolve(store);
        tracing::info!(target: "mcp_authz", metadata_url = %at, issuer = expected, jwks_uri = %jwks_uri, "authorization server metadata validated");
        server.set(Phase::Validated(Arc::new(metadata)));
        true
    }
}
