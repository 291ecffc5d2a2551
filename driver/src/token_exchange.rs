//! The tokio driver of the core's token exchange
//! ([`mcp_authz_core::token_exchange`]: RFC 8693, Entra on-behalf-of): a token of a downstream
//! API for the caller of an allowed request, from the cache or from the one call for that
//! caller and target (single flight), `POST`ed to the authorization server's token endpoint
//! with the shared fetcher, read and kept by the core.
//!
//! The adapters put a [`DownstreamTokens`] in the extensions of every request allowed with a
//! token (when the options configure an exchange): a tool asks it for a token of the API it
//! calls; the proxy asks it for its upstream's. An inbound token that expired is never
//! exchanged; neither the inbound token, the issued one nor the client's secret is ever logged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_authz_core::token_exchange::{
    parse_response, AssertionSigner, ExchangeCache, ExchangeConfig, ExchangeKey, ExchangeLookup,
    ExchangeTarget, ExchangedToken, MAX_RESPONSE_BYTES,
};
use mcp_authz_core::{ExchangeError, Principal};
use tokio::sync::watch;

use crate::fetch::{now, FetchError, HttpFetcher};

/// Token exchange at one authorization server: the cache, the client that calls its token
/// endpoint, and the key that signs client assertions (`private_key_jwt`).
pub struct TokenExchanger {
    cache: Mutex<ExchangeCache>,
    fetcher: HttpFetcher,
    signer: Option<Arc<dyn AssertionSigner + Send>>,
    /// Counts completed calls; requests waiting on another's call watch it.
    completed: watch::Sender<u64>,
    in_flight_wait: Duration,
}

impl std::fmt::Debug for TokenExchanger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenExchanger")
            .field("signer", &self.signer.as_ref().map(|s| s.alg().to_owned()))
            .finish_non_exhaustive()
    }
}

impl TokenExchanger {
    /// An exchanger for `config`, calling out with `fetcher`, signing client assertions with
    /// `signer` (needed for `private_key_jwt`).
    pub fn new(
        config: ExchangeConfig,
        fetcher: HttpFetcher,
        signer: Option<Arc<dyn AssertionSigner + Send>>,
    ) -> Self {
        let (completed, _) = watch::channel(0);
        let in_flight_wait = fetcher.options().total_timeout;
        Self {
            cache: Mutex::new(ExchangeCache::new(config)),
            fetcher,
            signer,
            completed,
            in_flight_wait,
        }
    }

    /// Calls made to the token endpoint so far.
    pub fn calls(&self) -> u64 {
        self.cache.lock().map_or(0, |c| c.calls())
    }

    /// Answers served from the cache so far.
    pub fn hits(&self) -> u64 {
        self.cache.lock().map_or(0, |c| c.hits())
    }

    /// A token of `target` for `principal`, whose verified token is `inbound`.
    ///
    /// # Errors
    /// [`ExchangeError::InboundExpired`] when `principal`'s token has expired (it is never
    /// exchanged then), the authorization server's refusal, or
    /// [`ExchangeError::Unavailable`].
    pub async fn exchange(
        &self,
        principal: &Principal,
        inbound: &str,
        target: &ExchangeTarget,
    ) -> Result<Arc<ExchangedToken>, ExchangeError> {
        let client_id = match self.cache.lock() {
            Ok(c) => c.config().client().client_id().to_owned(),
            Err(_) => return Err(ExchangeError::Unavailable),
        };
        let key = ExchangeKey::of(principal, inbound, &client_id, target);
        for _ in 0..4 {
            if principal.expires_at() <= now() {
                return Err(ExchangeError::InboundExpired);
            }
            let mut completed = self.completed.subscribe();
            completed.borrow_and_update();
            let lookup = match self.cache.lock() {
                Ok(mut c) => c.lookup(key, now()),
                Err(_) => return Err(ExchangeError::Unavailable),
            };
            match lookup {
                ExchangeLookup::Issued(t) => {
                    crate::observe::token_exchange("hit");
                    return Ok(t);
                }
                ExchangeLookup::Refused(e) => return Err(e),
                ExchangeLookup::InFlight => {
                    let waited =
                        tokio::time::timeout(self.in_flight_wait, completed.changed()).await;
                    if !matches!(waited, Ok(Ok(()))) {
                        return Err(ExchangeError::Unavailable);
                    }
                }
                ExchangeLookup::Miss => {
                    if let Some(answer) = self.call(key, principal, inbound, target).await {
                        return answer;
                    }
                }
                // A later kind of answer: no token.
                _ => return Err(ExchangeError::Unavailable),
            }
        }
        Err(ExchangeError::Unavailable)
    }

    /// The call for `key`; `None` when another request's call is already out.
    async fn call(
        &self,
        key: ExchangeKey,
        principal: &Principal,
        inbound: &str,
        target: &ExchangeTarget,
    ) -> Option<Result<Arc<ExchangedToken>, ExchangeError>> {
        let started = match self.cache.lock() {
            Ok(mut c) => {
                let ticket = c.start(key, now())?;
                let signer = self.signer.as_deref().map(|s| s as &dyn AssertionSigner);
                let request = match crate::keys::random_id() {
                    Some(jti) => c.config().request(inbound, target, now(), &jti, signer),
                    None => Err(ExchangeError::ClientAssertion),
                };
                Ok((ticket, request, c.config().profile()))
            }
            Err(_) => Err(ExchangeError::Unavailable),
        };
        let (ticket, request, profile) = match started {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let outcome = match request {
            Err(e) => Err(e),
            Ok(request) => {
                let fetched = self
                    .fetcher
                    .post_form(
                        &request.url,
                        request.authorization.as_deref(),
                        request.body,
                        MAX_RESPONSE_BYTES,
                    )
                    .await;
                match &fetched {
                    Ok(f) => parse_response(profile, f.status, &f.body),
                    Err(FetchError::Timeout) | Err(_) => Err(ExchangeError::Unavailable),
                }
                .inspect_err(|e| {
                    let detail = match &fetched {
                        Err(e) => e.to_string(),
                        Ok(f) => format!("HTTP {}", f.status),
                    };
                    tracing::warn!(target: "mcp_authz", endpoint = %request.url, reason = e.reason(), detail = %detail, "token exchange failed");
                })
            }
        };
        crate::observe::token_exchange(match &outcome {
            Ok(_) => "issued",
            Err(e) => e.reason(),
        });
        let answer = match self.cache.lock() {
            Ok(mut c) => c.finish(ticket, outcome, principal.expires_at(), now()),
            Err(_) => Err(ExchangeError::Unavailable),
        };
        self.completed.send_modify(|n| *n += 1);
        Some(answer)
    }
}

/// The tokens of downstream APIs for the caller of one allowed request: in the request's
/// extensions (as `DownstreamTokens`) when the options configure a token exchange. Holds the
/// caller's verified token in memory only, to present it to the authorization server; never
/// forwards it.
#[derive(Clone)]
pub struct DownstreamTokens {
    exchanger: Arc<TokenExchanger>,
    principal: Arc<Principal>,
    inbound: Arc<str>,
}

impl std::fmt::Debug for DownstreamTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownstreamTokens").finish_non_exhaustive()
    }
}

impl DownstreamTokens {
    pub(crate) fn new(
        exchanger: Arc<TokenExchanger>,
        principal: Arc<Principal>,
        inbound: Arc<str>,
    ) -> Self {
        Self {
            exchanger,
            principal,
            inbound,
        }
    }

    /// A token of `target` for this request's caller (cached per caller and target).
    ///
    /// # Errors
    /// Why none could be had ([`ExchangeError`]; `Unavailable` when the authorization server
    /// could not be asked).
    pub async fn token_for(
        &self,
        target: &ExchangeTarget,
    ) -> Result<Arc<ExchangedToken>, ExchangeError> {
        self.exchanger
            .exchange(&self.principal, &self.inbound, target)
            .await
    }

    /// A token of the API at `resource` (RFC 8707 `resource`; for Entra on-behalf-of, its
    /// `.default` scope) for this request's caller.
    ///
    /// # Errors
    /// As [`DownstreamTokens::token_for`].
    pub async fn exchange_token(
        &self,
        resource: &str,
    ) -> Result<Arc<ExchangedToken>, ExchangeError> {
        self.token_for(&ExchangeTarget::resource(resource)).await
    }
}

/// The private key this resource server signs client assertions with (`private_key_jwt`,
/// RFC 7523 §2.2): PKCS#8, P-256 (`ES256`), RSA (`RS256`) or Ed25519 (`EdDSA`). Signing is
/// `ring`'s.
pub struct KeySigner {
    key: SigningKey,
    kid: Option<String>,
    x5t_s256: Option<String>,
    rng: ring::rand::SystemRandom,
}

enum SigningKey {
    Ecdsa(ring::signature::EcdsaKeyPair),
    Rsa(ring::signature::RsaKeyPair),
    Ed25519(ring::signature::Ed25519KeyPair),
}

impl std::fmt::Debug for KeySigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySigner")
            .field("alg", &self.alg())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl KeySigner {
    /// The key of the PKCS#8 PEM `pem`, known to the authorization server as `kid` (if it
    /// needs one) and, for servers that identify keys by certificate (Entra ID), the
    /// certificate of the PEM `certificate` (its SHA-256 becomes `x5t#S256`).
    ///
    /// # Errors
    /// When `pem` holds no PKCS#8 key of a supported type, or `certificate` no certificate.
    pub fn from_pem(
        pem: &[u8],
        kid: Option<String>,
        certificate: Option<&[u8]>,
    ) -> Result<Self, String> {
        use ring::signature::{
            EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING,
        };
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem)
            .map_err(|e| format!("not a PKCS#8 PEM private key: {e}"))?;
        let der = der.secret_pkcs8_der();
        let rng = ring::rand::SystemRandom::new();
        let key =
            if let Ok(k) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng) {
                SigningKey::Ecdsa(k)
            } else if let Ok(k) = RsaKeyPair::from_pkcs8(der) {
                SigningKey::Rsa(k)
            } else if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                SigningKey::Ed25519(k)
            } else {
                return Err("the key is not a P-256, RSA or Ed25519 PKCS#8 key".into());
            };
        let x5t_s256 = match certificate {
            None => None,
            Some(pem) => {
                let cert = rustls::pki_types::CertificateDer::from_pem_slice(pem)
                    .map_err(|e| format!("not a PEM certificate: {e}"))?;
                let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
                Some(mcp_authz_core::jose::base64url_encode(digest.as_ref()))
            }
        };
        Ok(Self {
            key,
            kid,
            x5t_s256,
            rng,
        })
    }
}

impl AssertionSigner for KeySigner {
    fn alg(&self) -> &str {
        match self.key {
            SigningKey::Ecdsa(_) => "ES256",
            SigningKey::Rsa(_) => "RS256",
            SigningKey::Ed25519(_) => "EdDSA",
        }
    }

    fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn x5t_s256(&self) -> Option<&str> {
        self.x5t_s256.as_deref()
    }

    fn sign(&self, input: &[u8]) -> Option<Vec<u8>> {
        match &self.key {
            SigningKey::Ecdsa(k) => k.sign(&self.rng, input).ok().map(|s| s.as_ref().to_vec()),
            SigningKey::Rsa(k) => {
                let mut out = vec![0; k.public().modulus_len()];
                k.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    input,
                    &mut out,
                )
                .ok()
                .map(|()| out)
            }
            SigningKey::Ed25519(k) => Some(k.sign(input).as_ref().to_vec()),
        }
    }
}
