//! JWT access tokens: the claims of [RFC 7519 §4.1](https://www.rfc-editor.org/rfc/rfc7519#section-4.1)
//! checked under the [RFC 9068](https://www.rfc-editor.org/rfc/rfc9068) profile, and the
//! [`Principal`] a valid token yields.
//!
//! [`AccessTokenVerifier::verify`] is the whole token path, in this order:
//! 1. size, compact parse, strict base64url, strict header JSON (as [`CompactJws::parse`]);
//! 2. `alg` in the configured allow-list; `typ` is `at+jwt` (RFC 9068 §2.1, §4);
//! 3. key selection by `kid`, bound to the algorithm ([`JwkSet::select`]);
//! 4. the signature (`ring`);
//! 5. the claims: `exp` required, `nbf`/`iat` with a leeway, `iss` exactly the configured issuer
//!    (RFC 9068 §4), `aud` naming this resource ([`same_resource`]), and every registered claim of
//!    the right JSON type.
//!
//! Scopes are not checked here: the scopes a request needs depend on the request (its method and
//! tool), so the verdict module checks them, once, from the complete requirement
//! ([`crate::verdict`]). [`Principal::require_scopes`] is the same check for a caller holding a
//! principal alone (`mcp-authz verify --require-scope`).

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde_json::{Map, Value};

pub use super::verifier_config::{
    TenantPolicy, TypPolicy, VerifierConfig, DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_LEN,
    TENANT_PLACEHOLDER,
};
use crate::error::{Error, TokenError};
use crate::jose::alg::Algorithm;
use crate::jose::jwk::JwkSet;
#[cfg(doc)]
use crate::jose::jws::CompactJws;
use crate::jose::jws::{read_text, verify_compact};
use crate::json::Member;
use crate::resource_indicator::same_resource;
use crate::time::UnixTime;

/// Verifies JWT access tokens against a [`VerifierConfig`] and a [`JwkSet`].
#[derive(Debug, Clone)]
pub struct AccessTokenVerifier {
    config: VerifierConfig,
    /// SHA-256 of the whole configuration, as its `Debug` spells it (every field, strings
    /// quoted and escaped): what the verified-token cache keeps beside an entry to tell the
    /// configurations it was verified under apart, without comparing them field by field.
    config_id: [u8; 32],
}

impl AccessTokenVerifier {
    /// A verifier for `config`.
    pub fn new(config: VerifierConfig) -> Self {
        let config_id = crate::crypto::sha256(alloc::format!("{config:?}").as_bytes());
        Self { config, config_id }
    }

    /// The identity of this verifier's configuration: equal for equal configurations, and
    /// (a SHA-256) different for different ones.
    pub(crate) fn config_id(&self) -> &[u8; 32] {
        &self.config_id
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Verifies `token` with the keys of `keys` at the instant `now`.
    ///
    /// # Errors
    /// [`Error::InvalidToken`] with the precise [`TokenError`]. [`TokenError::UnknownKid`] means
    /// the key set may be stale: the caller may refresh it (subject to its policy) and retry.
    pub fn verify(&self, token: &str, keys: &JwkSet, now: UnixTime) -> Result<Principal, Error> {
        self.verify_noting_unknown_kid(token, keys, now, &mut None)
    }

    /// [`Self::verify`]; on [`TokenError::UnknownKid`], `unknown_kid` gets the token's `kid`
    /// (what a key-set refresh is asked to find), without parsing the token a second time.
    pub(crate) fn verify_noting_unknown_kid(
        &self,
        token: &str,
        keys: &JwkSet,
        now: UnixTime,
        unknown_kid: &mut Option<String>,
    ) -> Result<Principal, Error> {
        let config = &self.config;
        let (header, key, payload) = verify_compact(token, config.max_token_len, |header| {
            if !config.algorithms.contains(header.alg()) {
                return Err(TokenError::AlgNotAllowed);
            }
            if !config.typ.accepts(header.typ()) {
                return Err(TokenError::InvalidTyp);
            }
            let selected = keys.select(header.kid(), header.alg(), config.kid);
            if selected.is_err_and(|e| e == TokenError::UnknownKid) {
                *unknown_kid = header.kid().map(String::from);
            }
            selected
        })?;
        let mut principal = Principal::from_payload(payload, config, now)?;
        principal.algorithm = Some(header.alg());
        principal.key_fingerprint = *key.fingerprint();
        principal.key_id = header.into_kid();
        Ok(principal)
    }
}

/// Which claims a claims set must carry ([`Principal::from_claims`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClaimRules {
    /// `exp` is required.
    pub(crate) require_exp: bool,
    /// `iss` is required.
    pub(crate) require_iss: bool,
}

/// The verified identity a request carries: the claims of a valid access token.
///
/// It keeps the token's claims set once; the string claims point into it (a claim whose JSON
/// had an escape has its own copy), so building one costs a few allocations however many
/// claims and scopes the token carries.
#[derive(Clone, PartialEq)]
pub struct Principal {
    /// The claims set as the token carried it (strict JSON, so UTF-8: checked once, when the
    /// principal is made, so reading a claim is a slice).
    payload: String,
    subject: Option<Text>,
    client_id: Option<Text>,
    scopes: Vec<Text>,
    expires_at: UnixTime,
    not_before: Option<UnixTime>,
    issued_at: Option<UnixTime>,
    jwt_id: Option<Text>,
    issuer: Text,
    tenant: Option<Text>,
    /// The token carries `cnf`: it is bound to a key.
    bound: bool,
    audience: Vec<Text>,
    key_id: Option<String>,
    key_fingerprint: [u8; 32],
    /// `None` for a token the authorization server introspected (no signature was checked).
    algorithm: Option<Algorithm>,
}

/// A string claim of a [`Principal`]: where it lies in the kept claims set, or its own copy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Text {
    /// `payload[start..end]`.
    Span { start: u32, end: u32 },
    /// The decoded value of a JSON string that had an escape.
    Owned(Box<str>),
}

impl Text {
    /// `s`, read from `payload`: a span when `s` lies within `payload` (a string `serde_json`
    /// borrowed from it), else a copy.
    fn new(payload: &str, s: &str) -> Self {
        let start = (s.as_ptr() as usize).wrapping_sub(payload.as_ptr() as usize);
        let span = start
            .checked_add(s.len())
            .filter(|end| *end <= payload.len() && start <= payload.len())
            .and_then(|end| Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?)));
        match span {
            // The same bytes at that place: a span is never taken for anything else.
            Some((start, end)) if payload.get(start as usize..end as usize) == Some(s) => {
                Self::Span { start, end }
            }
            _ => Self::Owned(s.into()),
        }
    }

    fn get<'p>(&'p self, payload: &'p str) -> &'p str {
        match self {
            Self::Span { start, end } => payload
                .get(*start as usize..*end as usize)
                .unwrap_or_default(),
            Self::Owned(s) => s,
        }
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.subject())
            .field("client_id", &self.client_id())
            .field("scopes", &self.scopes().collect::<Vec<_>>())
            .field("expires_at", &self.expires_at)
            .field("issuer", &self.issuer())
            .field("audience", &self.audience().collect::<Vec<_>>())
            .field("key_id", &self.key_id)
            .field("algorithm", &self.algorithm)
            .field("claims", &self.claims_json())
            .finish_non_exhaustive()
    }
}

/// The largest integer every JSON implementation represents exactly, 2^53 − 1
/// ([RFC 7493 §2.2](https://www.rfc-editor.org/rfc/rfc7493#section-2.2)).
pub const MAX_INTEROPERABLE_INTEGER: u64 = (1 << 53) - 1;

/// A `NumericDate` (RFC 7519 §2): a non-negative JSON number of seconds, at most 2^53 − 1 (the
/// interoperable range of RFC 7493 §2.2: beyond it, parsers disagree on the value). Fractions
/// round toward the stricter answer: `exp` down, `nbf`/`iat` up.
fn numeric_date(
    member: Option<&Member<'_>>,
    round_up: bool,
) -> Result<Option<UnixTime>, TokenError> {
    match member {
        None => Ok(None),
        Some(Member::U64(secs)) if *secs <= MAX_INTEROPERABLE_INTEGER => {
            Ok(Some(UnixTime::from_secs(*secs)))
        }
        // 2^53 − 1 is exact as a float; anything above it is out of range.
        Some(Member::F64(f)) if *f >= 0.0 && *f <= MAX_INTEROPERABLE_INTEGER as f64 => {
            let whole = *f as u64;
            let frac = f - whole as f64;
            let secs = if round_up && frac > 0.0 {
                whole.saturating_add(1)
            } else {
                whole
            };
            Ok(Some(UnixTime::from_secs(secs)))
        }
        Some(_) => Err(TokenError::InvalidClaimType),
    }
}

fn string_claim<'m>(member: Option<&'m Member<'_>>) -> Result<Option<&'m str>, TokenError> {
    match member {
        None => Ok(None),
        Some(Member::Str(s)) => Ok(Some(s)),
        Some(_) => Err(TokenError::InvalidClaimType),
    }
}

/// A claim that is a string or an array of strings (`aud`, RFC 7519 §4.1.3; `scp`).
fn string_or_array<'m, 'de>(
    member: Option<&'m Member<'de>>,
) -> Result<Option<&'m [Cow<'de, str>]>, TokenError> {
    match member {
        None => Ok(None),
        Some(Member::Str(s)) => Ok(Some(core::slice::from_ref(s))),
        Some(Member::Strings(items)) => Ok(Some(items)),
        Some(_) => Err(TokenError::InvalidClaimType),
    }
}

fn split_scopes(s: &str) -> impl Iterator<Item = &str> {
    s.split(' ').filter(|s| !s.is_empty())
}

/// `exp`, `nbf` and `iat` against `now`, with the configured leeway; the lifetime against the
/// configured maximum.
fn check_time(
    config: &VerifierConfig,
    now: UnixTime,
    exp: UnixTime,
    nbf: Option<UnixTime>,
    iat: Option<UnixTime>,
) -> Result<(), TokenError> {
    let leeway = config.leeway_secs;
    if now >= exp.saturating_add(leeway) {
        return Err(TokenError::Expired);
    }
    if nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err(TokenError::NotYetValid);
    }
    if iat.is_some_and(|iat| now.saturating_add(leeway) < iat) {
        return Err(TokenError::IssuedInFuture);
    }
    if let Some(max) = config.max_lifetime_secs {
        let from = iat.unwrap_or(now);
        if exp.as_secs().saturating_sub(from.as_secs()) > max {
            return Err(TokenError::LifetimeTooLong);
        }
    }
    Ok(())
}

/// `iss` exactly an accepted issuer (a tenant template with the token's `tid`, from the
/// allow-list); `aud` naming the configured resource (RFC 8707 equivalence) or one of the extra
/// audiences (exactly); without any `aud`, a client of the audienceless list.
fn check_issuer_audience<A: AsRef<str>>(
    config: &VerifierConfig,
    issuer: &str,
    tenant: Option<&str>,
    audience: Option<impl Iterator<Item = A>>,
    client_id: Option<&str>,
) -> Result<(), TokenError> {
    config.check_issuer(issuer, tenant)?;
    let Some(mut audience) = audience else {
        let listed = client_id.is_some_and(|c| config.audienceless_clients.iter().any(|a| a == c));
        return match listed {
            true => Ok(()),
            false => Err(TokenError::MissingAudience),
        };
    };
    let ours =
        |a: &str| same_resource(a, &config.resource) || config.audiences.iter().any(|x| x == a);
    // An empty array names no audience: not this resource either.
    match audience.any(|a| ours(a.as_ref())) {
        true => Ok(()),
        false => Err(TokenError::WrongAudience),
    }
}

impl Principal {
    /// Re-checks a principal verified earlier (a verified-token cache hit) against `config` at
    /// `now`: the time claims, the issuer and the audience. The signature is not re-checked.
    ///
    /// # Errors
    /// The [`TokenError`] the token would get now.
    pub fn recheck(&self, config: &VerifierConfig, now: UnixTime) -> Result<(), TokenError> {
        check_time(
            config,
            now,
            self.expires_at,
            self.not_before,
            self.issued_at,
        )?;
        // A kept principal without `aud` was accepted as an audienceless client (an empty
        // array is refused before it is kept).
        let audience = (!self.audience.is_empty()).then(|| self.audience());
        check_issuer_audience(
            config,
            self.issuer(),
            self.tenant(),
            audience,
            self.client_id(),
        )
    }

    /// Where each claim this type reads goes; the others are only checked for duplicates.
    fn claim_slot(name: &str) -> Option<usize> {
        Some(match name {
            "exp" => 0,
            "nbf" => 1,
            "iat" => 2,
            "iss" => 3,
            "aud" => 4,
            "sub" => 5,
            "jti" => 6,
            "client_id" => 7,
            "azp" => 8,
            "scope" => 9,
            "scp" => 10,
            "roles" => 11,
            "cid" => 12,
            "tid" => 13,
            "cnf" => 14,
            _ => return None,
        })
    }

    fn from_payload(
        payload: Vec<u8>,
        config: &VerifierConfig,
        now: UnixTime,
    ) -> Result<Self, TokenError> {
        Self::from_claims(
            payload,
            config,
            now,
            ClaimRules {
                require_exp: true,
                require_iss: true,
            },
        )
    }

    /// The principal of a claims set — a JWT's payload, or an introspection response (RFC 7662
    /// §2.2 shares the claim names) — checked under `config` at `now`, with `rules` saying which
    /// claims must be there.
    pub(crate) fn from_claims(
        payload: Vec<u8>,
        config: &VerifierConfig,
        now: UnixTime,
        rules: ClaimRules,
    ) -> Result<Self, TokenError> {
        // UTF-8 checked here, once: the scan and every later claim read slice this text.
        let payload = String::from_utf8(payload).map_err(|_| TokenError::InvalidJson)?;
        let [exp, nbf, iat, iss, aud, sub, jti, client_id, azp, scope, scp, roles, cid, tid, cnf] =
            read_text(&payload, Self::claim_slot)?;
        // `cnf` (RFC 7800): any confirmation binds the token to a key (DPoP `jkt`, mTLS
        // `x5t#S256`); it must be an object.
        let bound = match cnf {
            None => false,
            Some(Member::Other) => true,
            Some(_) => return Err(TokenError::InvalidClaimType),
        };
        // Types first: a registered claim of the wrong type is an error, never "absent".
        let exp = numeric_date(exp.as_ref(), false)?;
        let nbf = numeric_date(nbf.as_ref(), true)?;
        let iat = numeric_date(iat.as_ref(), true)?;
        let iss = string_claim(iss.as_ref())?;
        let aud = string_or_array(aud.as_ref())?;
        let subject = string_claim(sub.as_ref())?;
        let jwt_id = string_claim(jti.as_ref())?;
        let client_id = string_claim(client_id.as_ref())?;
        let azp = string_claim(azp.as_ref())?;
        // Okta's name for the client.
        let cid = string_claim(cid.as_ref())?;
        let scope = string_claim(scope.as_ref())?;
        let scp = string_or_array(scp.as_ref())?;
        // `roles` is read only when configured: other providers put other things there.
        let roles = match config.roles_as_scopes {
            Some(_) => string_or_array(roles.as_ref())?,
            None => None,
        };
        // `tid` (Entra ID's tenant) likewise, only for a tenant-templated issuer.
        let tid = match config.has_tenant_template() {
            true => string_claim(tid.as_ref())?,
            false => None,
        };

        let exp = match (exp, rules.require_exp) {
            (Some(exp), _) => exp,
            (None, true) => return Err(TokenError::MissingExp),
            // An introspected token without `exp` (allowed by configuration): it lives as long
            // as the introspection cache keeps it.
            (None, false) => UnixTime::from_secs(MAX_INTEROPERABLE_INTEGER),
        };
        check_time(config, now, exp, nbf, iat)?;
        // Without `iss` (allowed in an introspection response), the authorization server that
        // answered vouches for the token: its issuer stands in.
        let issuer = match (iss, rules.require_iss) {
            (Some(iss), _) => iss,
            (None, true) => return Err(TokenError::MissingIssuer),
            (None, false) => config.issuer(),
        };
        let client_id = client_id.or(azp).or(cid);
        check_issuer_audience(config, issuer, tid, aud.map(|a| a.iter()), client_id)?;
        let audience = aud.unwrap_or_default();
        let text = |s: &str| Text::new(&payload, s);
        let mut scopes: Vec<Text> = match (scope, scp) {
            (Some(scope), _) => split_scopes(scope).map(text).collect(),
            (None, Some(scp)) => scp.iter().flat_map(|s| split_scopes(s)).map(text).collect(),
            (None, None) => Vec::new(),
        };
        if let (Some(prefix), Some(roles)) = (&config.roles_as_scopes, roles) {
            for role in roles.iter().filter(|r| !r.is_empty()) {
                scopes.push(match prefix.is_empty() {
                    true => text(role),
                    false => Text::Owned(alloc::format!("{prefix}{role}").into_boxed_str()),
                });
            }
        }
        scopes.dedup_by(|a, b| a.get(&payload) == b.get(&payload));
        let subject = subject.map(text);
        let client_id = client_id.map(text);
        let jwt_id = jwt_id.map(text);
        let issuer = text(issuer);
        let tenant = tid.map(text);
        let audience = audience.iter().map(|a| text(a)).collect();
        Ok(Self {
            bound,
            tenant,
            subject,
            client_id,
            scopes,
            expires_at: exp,
            not_before: nbf,
            issued_at: iat,
            jwt_id,
            issuer,
            audience,
            key_id: None,
            key_fingerprint: [0; 32],
            algorithm: None,
            payload,
        })
    }

    /// Whether the token carries a confirmation (`cnf`, RFC 7800): it is bound to a key (DPoP,
    /// mTLS) and is never usable as a bearer token.
    pub fn is_sender_constrained(&self) -> bool {
        self.bound
    }

    /// Marks the token as bound to a key (an introspected `token_type: DPoP`).
    pub(crate) fn mark_sender_constrained(&mut self) {
        self.bound = true;
    }

    /// `cnf.jkt`: the RFC 7638 thumbprint of the DPoP key the token is bound to (RFC 9449 §6).
    pub fn dpop_jkt(&self) -> Option<String> {
        if !self.bound {
            return None;
        }
        match self.claim("cnf")? {
            Value::Object(cnf) => cnf.get("jkt").and_then(Value::as_str).map(String::from),
            _ => None,
        }
    }

    /// `tid`, the Entra ID tenant, when the issuer is a tenant template (read only then).
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_ref().map(|t| t.get(&self.payload))
    }

    /// `sub`: the resource owner (or the client, for client-credentials tokens).
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_ref().map(|t| t.get(&self.payload))
    }

    /// `client_id` (RFC 9068 §2.2), or else `azp` (OIDC), or else `cid` (Okta).
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_ref().map(|t| t.get(&self.payload))
    }

    /// The granted scopes: `scope` split on spaces, or else `scp` (a string of space-separated
    /// scopes, or an array of them); then, when configured, each of `roles` with its prefix.
    pub fn scopes(&self) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        self.scopes.iter().map(|t| t.get(&self.payload))
    }

    /// Whether the token grants `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// Succeeds when the token grants every scope of `required`.
    ///
    /// # Errors
    /// [`Error::InsufficientScope`].
    pub fn require_scopes<'s>(
        &self,
        required: impl IntoIterator<Item = &'s str>,
    ) -> Result<(), Error> {
        match required.into_iter().all(|s| self.has_scope(s)) {
            true => Ok(()),
            false => Err(Error::InsufficientScope),
        }
    }

    /// `exp`.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// `nbf`, if present.
    pub fn not_before(&self) -> Option<UnixTime> {
        self.not_before
    }

    /// `iat`, if present.
    pub fn issued_at(&self) -> Option<UnixTime> {
        self.issued_at
    }

    /// `jti`, if present.
    pub fn jwt_id(&self) -> Option<&str> {
        self.jwt_id.as_ref().map(|t| t.get(&self.payload))
    }

    /// `iss`: always the configured issuer.
    pub fn issuer(&self) -> &str {
        self.issuer.get(&self.payload)
    }

    /// `aud`, as a list (a string `aud` is a list of one).
    pub fn audience(&self) -> impl ExactSizeIterator<Item = &str> + Clone + '_ {
        self.audience.iter().map(|t| t.get(&self.payload))
    }

    /// The `kid` of the key that verified the token, if the token named one.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The fingerprint of the key that verified the token ([`crate::jose::jwk::Jwk::fingerprint`]).
    pub fn key_fingerprint(&self) -> &[u8; 32] {
        &self.key_fingerprint
    }

    /// The algorithm the token was signed with; `None` for a token the authorization server
    /// vouched for by introspection (RFC 7662), whose signature, if any, was not checked here.
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.algorithm
    }

    /// Every claim of the token, for claims this type has no accessor for. The map is built
    /// from the token's claims set on each call; the verification itself never builds it.
    pub fn claims(&self) -> Map<String, Value> {
        // The claims set was parsed as strict JSON when the token was verified.
        crate::json::parse_object(self.payload.as_bytes()).unwrap_or_default()
    }

    /// One claim by name.
    pub fn claim(&self, name: &str) -> Option<Value> {
        self.claims().remove(name)
    }

    /// The token's claims set, as the JSON text it carried.
    pub fn claims_json(&self) -> &str {
        &self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_spans_only_what_lies_in_the_payload() {
        let payload = String::from(r#"{"sub":"abc","scope":"x y"}"#);
        let inside = &payload[8..11];
        assert_eq!(
            Text::new(&payload, inside),
            Text::Span { start: 8, end: 11 }
        );
        assert_eq!(Text::new(&payload, inside).get(&payload), "abc");
        // Equal bytes elsewhere are copied, never spanned.
        let elsewhere = String::from("abc");
        assert_eq!(Text::new(&payload, &elsewhere), Text::Owned("abc".into()));
        assert_eq!(Text::new(&payload, ""), Text::Owned("".into()));
        let whole = payload.as_str();
        assert_eq!(Text::new(&payload, whole).get(&payload), whole);
    }

    #[test]
    fn escaped_and_plain_claims_read_the_same() {
        let config = VerifierConfig::new("https://as", "https://rs");
        let principal = |claims: &str| {
            Principal::from_payload(claims.as_bytes().to_vec(), &config, UnixTime::from_secs(1))
                .unwrap()
        };
        let plain = principal(
            r#"{"iss":"https://as","aud":["x","https://rs"],"exp":9,"sub":"s","scope":"a b a a"}"#,
        );
        let escaped = principal(
            r#"{"iss":"https:\/\/as","aud":["x","https:\/\/rs"],"exp":9,"sub":"\u0073","scope":"a\u0020b a a"}"#,
        );
        for p in [&plain, &escaped] {
            assert_eq!(p.issuer(), "https://as");
            assert!(p.audience().eq(["x", "https://rs"]));
            assert_eq!(p.subject(), Some("s"));
            assert!(p.scopes().eq(["a", "b", "a"]));
        }
        assert!(matches!(plain.issuer, Text::Span { .. }));
        assert!(matches!(escaped.issuer, Text::Owned(_)));
        assert_eq!(plain.recheck(&config, UnixTime::from_secs(1)), Ok(()));
        assert_eq!(escaped.recheck(&config, UnixTime::from_secs(1)), Ok(()));
    }

    #[test]
    fn typ_policy() {
        for t in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+Jwt",
        ] {
            assert!(TypPolicy::AccessToken.accepts(Some(t)), "{t}");
            assert!(TypPolicy::Lenient.accepts(Some(t)), "{t}");
        }
        for t in ["JWT", "jwt", "application/jwt"] {
            assert!(!TypPolicy::AccessToken.accepts(Some(t)), "{t}");
            assert!(TypPolicy::Lenient.accepts(Some(t)), "{t}");
        }
        assert!(!TypPolicy::AccessToken.accepts(None));
        assert!(TypPolicy::Lenient.accepts(None));
        for t in [
            "",
            "at+jw",
            "application/",
            "x-application/at+jwt",
            "jose",
            "at+jwt ",
        ] {
            assert!(!TypPolicy::AccessToken.accepts(Some(t)), "{t}");
            assert!(!TypPolicy::Lenient.accepts(Some(t)), "{t}");
        }
    }
}
