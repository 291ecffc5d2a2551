//! Start-up, the same in every adapter: the authorization servers discovered and their keys
//! fetched (or fixed keys taken, offline), the introspection client made, and the relaxed options
//! logged, into an [`Authorizer`].

use mcp_authz_core::JwkSet;

use crate::discovery::{discover_all, Discovered, StartupError, TrustedServer};
use crate::fetch::HttpFetcher;
use crate::keys::{KeyStore, OnNewKeys, Refresh};
use crate::options::AuthzOptions;
use crate::request::Authorizer;

/// The HTTP client `options` describe, and every configured authorization server's metadata,
/// fetched and validated.
///
/// # Errors
/// The first [`StartupError`]; the adapter should not start.
pub async fn discover_servers(
    options: &AuthzOptions,
) -> Result<(HttpFetcher, Vec<Discovered>), StartupError> {
    // A store that cannot be used is a configuration error: said before anything is fetched
    // (making one only reads its URL; it connects on first use).
    options.state_store()?;
    let fetcher = options
        .fetcher()
        .map_err(|e| StartupError::Config(e.to_string()))?;
    let found = discover_all(&fetcher, &options.servers, &options.metadata_policy).await?;
    Ok((fetcher, found))
}

impl Authorizer {
    /// Starts the keys of every server `found` (refreshed as `refresh` says, each key set change
    /// handed to `on_new_keys(issuer)`), and the introspection client of the first.
    ///
    /// # Errors
    /// [`StartupError::Jwks`] when a first key fetch failed and the options require keys at
    /// start-up; [`StartupError::Config`] for an introspection configuration that cannot work.
    pub async fn start(
        options: &AuthzOptions,
        fetcher: &HttpFetcher,
        found: &[Discovered],
        refresh: Refresh,
        on_new_keys: impl Fn(usize) -> Option<OnNewKeys>,
    ) -> Result<Self, StartupError> {
        let introspector = options.introspector(found.first().map(|d| &d.metadata), fetcher)?;
        options.warn_about_relaxations();
        let mut keys = Vec::with_capacity(found.len());
        for (issuer, discovered) in found.iter().enumerate() {
            let jwks_uri = discovered.metadata.jwks_uri().to_owned();
            let store = KeyStore::start(
                jwks_uri.clone(),
                fetcher.clone(),
                options.refresh,
                refresh,
                on_new_keys(issuer),
            )
            .await;
            if let Some(failure) = store.first_failure() {
                if options.require_keys {
                    return Err(StartupError::Jwks {
                        url: jwks_uri,
                        failure,
                    });
                }
                tracing::warn!(target: "mcp_authz", jwks_uri = %jwks_uri, failure = %failure, "no keys yet: requests with a token from this issuer get 503 until a fetch succeeds");
            }
            keys.push(store);
        }
        let exchanger = options.token_exchanger(found.first().map(|d| &d.metadata), fetcher)?;
        Ok(Self::new(keys, introspector, options)?.with_exchanger(exchanger))
    }

    /// The servers of the issuers set in `options` and an authorizer with fixed keys: `keys[i]`
    /// are the keys of the `i`-th issuer. Nothing is fetched, except introspection at the
    /// configured endpoint.
    ///
    /// # Errors
    /// [`StartupError::Config`] without an issuer, with a metadata URL, when the counts differ,
    /// or for an introspection configuration that cannot work.
    pub fn offline(
        options: &AuthzOptions,
        keys: Vec<JwkSet>,
    ) -> Result<(Vec<TrustedServer>, Self), StartupError> {
        let servers = options.offline_servers()?;
        if servers.len() != keys.len() {
            return Err(StartupError::Config(format!(
                "{} issuers but {} key sets",
                servers.len(),
                keys.len()
            )));
        }
        let keys = keys.into_iter().map(KeyStore::fixed).collect();
        let fetcher = options
            .fetcher()
            .map_err(|e| StartupError::Config(e.to_string()))?;
        let introspector = options.introspector(None, &fetcher)?;
        let exchanger = options.token_exchanger(None, &fetcher)?;
        let authorizer = Self::new(keys, introspector, options)?.with_exchanger(exchanger);
        Ok((servers, authorizer))
    }
}

impl Authorizer {
    /// [`Authorizer::offline`] for a single issuer's `keys`.
    ///
    /// # Errors
    /// As [`Authorizer::offline`], and [`StartupError::Config`] when several issuers are set.
    pub fn offline_single(
        options: &AuthzOptions,
        keys: JwkSet,
    ) -> Result<(Vec<TrustedServer>, Self), StartupError> {
        if options.servers.len() > 1 {
            return Err(StartupError::Config(
                "build_offline takes one issuer's keys: use build_offline_per_issuer".into(),
            ));
        }
        Self::offline(options, vec![keys])
    }
}
