//! Start-up discovery: the authorization server's metadata fetched, validated (RFC 8414,
//! OIDC Discovery) and found at the well-known URLs MCP clients try, with every problem named
//! when it is not acceptable.

use mcp_authz_core::as_metadata::{
    issuer_from_metadata_url, metadata_urls_for_issuer, validate, AuthorizationServerMetadata,
    MetadataPolicy, Report, MAX_METADATA_BYTES,
};
use mcp_authz_core::jwks_refresh::FetchFailure;

use crate::fetch::{FetchError, HttpFetcher};

/// Where one authorization server's metadata is found (each builder call of `metadata_url` or
/// `issuer` adds one, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerSource {
    /// At this RFC 8414 or OIDC Discovery URL; the document must name the issuer the URL
    /// implies.
    MetadataUrl(String),
    /// At the well-known URLs of this issuer, in the order MCP clients try them; offline, the
    /// issuer tokens must name.
    Issuer(String),
}

/// One authorization server the resource trusts, once its metadata is known.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TrustedServer {
    /// The issuer tokens name, as the metadata states it (possibly a tenant template).
    pub issuer: String,
    /// The issuer the protected-resource metadata lists for clients: the same, except for a
    /// tenant template, which clients cannot use, where it is the issuer the metadata URL
    /// implies (e.g. `https://login.microsoftonline.com/organizations/v2.0`).
    pub advertised: String,
}

impl TrustedServer {
    /// A server whose tokens name `issuer`, advertised as itself.
    pub fn new(issuer: impl Into<String>) -> Self {
        let issuer = issuer.into();
        Self {
            advertised: issuer.clone(),
            issuer,
        }
    }

    /// The same server, advertised as `advertised`.
    #[must_use]
    pub fn advertised_as(mut self, advertised: impl Into<String>) -> Self {
        self.advertised = advertised.into();
        self
    }
}

/// Why the resource server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartupError {
    /// The configuration is not usable (e.g. the metadata URL is not a well-known URL).
    Config(String),
    /// The metadata could not be fetched.
    Fetch {
        /// The URL tried.
        url: String,
        /// What went wrong.
        error: FetchError,
    },
    /// The metadata URL answered with another status than 200.
    Status {
        /// The URL tried.
        url: String,
        /// The status.
        status: u16,
    },
    /// The metadata document is not acceptable: every problem is in the report.
    Metadata {
        /// The URL fetched.
        url: String,
        /// The validation report.
        report: Box<Report>,
    },
    /// The JWK Set could not be fetched or used.
    Jwks {
        /// The `jwks_uri`.
        url: String,
        /// Why.
        failure: FetchFailure,
    },
}

impl std::fmt::Display for StartupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(m) => f.write_str(m),
            Self::Fetch { url, error } => write!(f, "cannot fetch {url}: {error}"),
            Self::Status { url, status } => write!(f, "{url} answered HTTP {status}"),
            Self::Metadata { url, report } => {
                write!(
                    f,
                    "the authorization-server metadata at {url} is not acceptable:"
                )?;
                for p in &report.problems {
                    write!(f, "\n  - {}: {}", p.field, p.kind)?;
                }
                Ok(())
            }
            Self::Jwks { url, failure } => write!(f, "cannot use the JWK Set at {url}: {failure}"),
        }
    }
}

impl std::error::Error for StartupError {}

/// Fetches a metadata document and validates it as if served from `url`, whose implied issuer
/// (or `expected_issuer`) it must name.
///
/// # Errors
/// [`StartupError::Fetch`] or [`StartupError::Status`] when there is no document; a
/// [`StartupError::Config`] when `url` implies no issuer and none is given. The report says
/// whether the document is acceptable.
pub async fn fetch_metadata(
    fetcher: &HttpFetcher,
    url: &str,
    expected_issuer: Option<&str>,
    policy: &MetadataPolicy,
) -> Result<Report, StartupError> {
    let expected = match expected_issuer {
        Some(i) => i.to_owned(),
        None => issuer_from_metadata_url(url)
            .map_err(|e| StartupError::Config(format!("{url}: {e}")))?,
    };
    let fetched = fetcher
        .get(url, MAX_METADATA_BYTES)
        .await
        .map_err(|error| StartupError::Fetch {
            url: url.to_owned(),
            error,
        })?;
    if fetched.status != 200 {
        return Err(StartupError::Status {
            url: url.to_owned(),
            status: fetched.status,
        });
    }
    Ok(validate(&fetched.body, &expected, policy))
}

/// Finds and validates the authorization server's metadata: at `metadata_url`, or else at the
/// well-known URLs of `issuer` in the order MCP clients try them (a 4xx moves on to the next).
/// Warnings are logged. Returns the URL that answered and the validated metadata.
///
/// # Errors
/// A [`StartupError`] naming what is wrong.
pub(crate) async fn discover(
    fetcher: &HttpFetcher,
    metadata_url: Option<&str>,
    issuer: Option<&str>,
    policy: &MetadataPolicy,
) -> Result<(String, AuthorizationServerMetadata), StartupError> {
    let candidates: Vec<String> = match (metadata_url, issuer) {
        (Some(url), _) => vec![url.to_owned()],
        (None, Some(issuer)) => metadata_urls_for_issuer(issuer),
        (None, None) => {
            return Err(StartupError::Config(
                "give a metadata URL or an issuer".into(),
            ))
        }
    };
    if candidates.is_empty() {
        return Err(StartupError::Config(
            "the issuer is not an absolute URL".into(),
        ));
    }
    let mut last = None;
    for url in candidates {
        match fetch_metadata(fetcher, &url, issuer, policy).await {
            Ok(report) => match report.metadata.clone() {
                Some(m) => {
                    for w in &report.warnings {
                        tracing::warn!(target: "mcp_authz", url = %url, warning = %w, "authorization-server metadata");
                    }
                    return Ok((url, m));
                }
                None => {
                    return Err(StartupError::Metadata {
                        url,
                        report: Box::new(report),
                    })
                }
            },
            // A 4xx at one well-known URL: try the next one, as MCP clients do.
            Err(e @ StartupError::Status { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| StartupError::Config("no metadata found".into())))
}

/// One authorization server found at start-up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Discovered {
    /// The URL that answered.
    pub metadata_url: String,
    /// The validated metadata.
    pub metadata: AuthorizationServerMetadata,
    /// The issuer tokens name and the issuer clients are told about.
    pub server: TrustedServer,
}

/// Finds and validates the metadata of every server of `sources`, in order ([`discover`] for
/// each). A tenant-templated issuer (Entra ID's `common` / `organizations` / `consumers`
/// metadata) is advertised as the issuer its metadata URL implies.
///
/// # Errors
/// The first [`StartupError`], or [`StartupError::Config`] when there is no source or two name
/// the same issuer.
pub(crate) async fn discover_all(
    fetcher: &HttpFetcher,
    sources: &[ServerSource],
    policy: &MetadataPolicy,
) -> Result<Vec<Discovered>, StartupError> {
    if sources.is_empty() {
        return Err(StartupError::Config(
            "give a metadata URL or an issuer".into(),
        ));
    }
    let mut found: Vec<Discovered> = Vec::with_capacity(sources.len());
    for source in sources {
        let (metadata_url, issuer) = match source {
            ServerSource::MetadataUrl(url) => (Some(url.as_str()), None),
            ServerSource::Issuer(issuer) => (None, Some(issuer.as_str())),
        };
        let (url, metadata) = discover(fetcher, metadata_url, issuer, policy).await?;
        let mut server = TrustedServer::new(metadata.issuer());
        if metadata
            .issuer()
            .contains(mcp_authz_core::access_token::TENANT_PLACEHOLDER)
        {
            if let Ok(implied) = issuer_from_metadata_url(&url) {
                server = server.advertised_as(implied);
            }
        }
        if found.iter().any(|d| d.server.issuer == server.issuer) {
            return Err(StartupError::Config(format!(
                "two configured authorization servers have the issuer {}",
                server.issuer
            )));
        }
        found.push(Discovered {
            metadata_url: url,
            metadata,
            server,
        });
    }
    Ok(found)
}
