//! `mcp-authz verify`: one JSON object per token on stdout.
//!
//! Exit status: 0 when the one token is valid (or, with `--tokens`, when every line was
//! processed), 1 when the one token is rejected, 2 for bad arguments or an unusable JWK Set.

use std::io::{self, BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use mcp_authz_core::{
    Error, Guard, JwkSet, JwksLimits, Principal, ScopePolicy, TypPolicy, UnixTime, VerifierConfig,
};
use serde::Serialize;

/// Arguments of `mcp-authz verify`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["token", "tokens"])))]
pub struct VerifyArgs {
    /// A JWK Set document (`{"keys":[…]}`) holding the authorization server's public keys.
    /// Repeatable: the n-th --jwks holds the keys of the n-th --issuer.
    #[arg(long, value_name = "FILE", required = true)]
    jwks: Vec<PathBuf>,
    /// A trusted issuer; `iss` must equal it byte for byte (or, holding {tenantid}, be it with
    /// the token's own tid: see --tenant). Repeatable, paired with --jwks: a token is routed by
    /// its iss and verified with that issuer's keys alone.
    #[arg(long, value_name = "URL", required = true)]
    issuer: Vec<String>,
    /// This resource's identifier; `aud` must name it.
    #[arg(long, value_name = "URL")]
    resource: String,
    /// The current time, in seconds since the Unix epoch (default: the system clock).
    #[arg(long, value_name = "UNIX_SECONDS")]
    now: Option<u64>,
    /// Clock-skew leeway for exp, nbf and iat, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = mcp_authz_core::access_token::DEFAULT_LEEWAY_SECS)]
    leeway: u64,
    /// Also accept `typ: JWT` or no `typ` (authorization servers without RFC 9068 support).
    #[arg(long)]
    lenient_typ: bool,
    /// Refuse tokens that live longer than this (exp - iat, or exp - now without iat).
    #[arg(long, value_name = "SECONDS")]
    max_token_lifetime: Option<u64>,
    #[command(flatten)]
    audience: crate::AudienceArgs,
    #[command(flatten)]
    tenants: crate::TenantArgs,
    /// A scope the token must grant (repeatable).
    #[arg(long = "require-scope", value_name = "SCOPE")]
    require_scope: Vec<String>,
    /// The token to verify.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
    /// A file with one token per line; prints one JSON object per line, in order.
    #[arg(long, value_name = "FILE")]
    tokens: Option<PathBuf>,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("mcp-authz verify: {message}");
    ExitCode::from(2)
}

/// `mcp-authz verify`.
pub fn run(args: VerifyArgs) -> ExitCode {
    if args.jwks.len() != args.issuer.len() {
        return fail(format_args!(
            "{} --issuer but {} --jwks: give them in pairs, the n-th --jwks for the n-th --issuer",
            args.issuer.len(),
            args.jwks.len()
        ));
    }
    let mut key_sets = Vec::with_capacity(args.jwks.len());
    for path in &args.jwks {
        let jwks = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => return fail(format_args!("cannot read {}: {e}", path.display())),
        };
        let keys = match JwkSet::parse(&jwks, &JwksLimits::default()) {
            Ok(keys) => keys,
            Err(e) => return fail(format_args!("{}: {e}", path.display())),
        };
        for skipped in keys.skipped() {
            eprintln!(
                "mcp-authz verify: skipping key #{} (kid {:?}): {}",
                skipped.index, skipped.kid, skipped.reason
            );
        }
        if keys.is_empty() {
            return fail(format_args!("{}: no usable key", path.display()));
        }
        key_sets.push(keys);
    }
    let now = match args.now {
        Some(secs) => UnixTime::from_secs(secs),
        None => match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => UnixTime::from_secs(d.as_secs()),
            Err(_) => return fail("the system clock is before 1970"),
        },
    };
    let typ = if args.lenient_typ {
        TypPolicy::Lenient
    } else {
        TypPolicy::AccessToken
    };
    let config = |issuer: &str| {
        let config = VerifierConfig::new(issuer, args.resource.clone())
            .with_leeway_secs(args.leeway)
            .with_max_lifetime_secs(args.max_token_lifetime)
            .with_audiences(args.audience.audience.clone())
            .with_audienceless_clients(args.audience.client_id_audience.clone())
            .with_roles_as_scopes(args.audience.roles_as_scopes.clone())
            .with_typ_policy(typ);
        match args.tenants.allow_any_tenant {
            true => config.with_any_tenant(),
            false => config.with_tenants(args.tenants.tenant.clone()),
        }
    };
    let mut issuers = args.issuer.iter();
    let first = issuers.next().map(|i| config(i));
    let Some(first) = first else {
        return fail("--issuer is required");
    };
    // The server's own routing: the token's iss chooses the issuer, whose keys alone verify it.
    let guard = issuers.fold(Guard::new(first, ScopePolicy::default()), |g, i| {
        g.with_issuer(config(i))
    });
    if let Some(v) = guard.verifiers().find(|v| {
        v.config().has_tenant_template()
            && args.tenants.tenant.is_empty()
            && !args.tenants.allow_any_tenant
    }) {
        return fail(format_args!(
            "the issuer {} holds {{tenantid}}: give --tenant TID (repeatable) or --allow-any-tenant",
            v.config().issuer()
        ));
    }
    let check = |token: &str| {
        let issuer = guard.route(token)?;
        let (Some(verifier), Some(keys)) = (guard.verifier_at(issuer), key_sets.get(issuer)) else {
            return Err(Error::InvalidToken(mcp_authz_core::TokenError::WrongIssuer));
        };
        verifier.verify(token, keys, now).and_then(|principal| {
            principal.require_scopes(args.require_scope.iter().map(String::as_str))?;
            Ok(principal)
        })
    };

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if let Some(path) = &args.tokens {
        let file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) => return fail(format_args!("cannot read {}: {e}", path.display())),
        };
        for line in io::BufReader::new(file).lines() {
            let line = match line {
                Ok(l) => l,
                Err(e) => return fail(format_args!("cannot read {}: {e}", path.display())),
            };
            let result = check(line.strip_suffix('\r').unwrap_or(&line));
            if writeln!(out, "{}", report(&result)).is_err() {
                return fail("cannot write to stdout");
            }
        }
        return match out.flush() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => fail("cannot write to stdout"),
        };
    }
    let token = args.token.as_deref().unwrap_or_default();
    let result = check(token);
    if writeln!(out, "{}", report(&result))
        .and_then(|()| out.flush())
        .is_err()
    {
        return fail("cannot write to stdout");
    }
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
    }
}

/// The JSON line for a verified token, fields in this order.
#[derive(Serialize)]
struct Valid<'a> {
    valid: bool,
    sub: Option<&'a str>,
    client_id: Option<&'a str>,
    scopes: Vec<&'a str>,
    exp: u64,
    iat: Option<u64>,
    jti: Option<&'a str>,
    iss: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<&'a str>,
    aud: Vec<&'a str>,
    kid: Option<&'a str>,
    alg: &'a str,
}

/// The JSON line for a rejected token.
#[derive(Serialize)]
struct Rejected {
    valid: bool,
    error: &'static str,
    reason: &'static str,
}

/// The JSON line for one token. Never contains token bytes: only claims of a verified token, or a
/// fixed reason name.
fn report(result: &Result<Principal, Error>) -> String {
    let line = match result {
        Ok(p) => serde_json::to_string(&Valid {
            valid: true,
            sub: p.subject(),
            client_id: p.client_id(),
            scopes: p.scopes().collect(),
            exp: p.expires_at().as_secs(),
            iat: p.issued_at().map(UnixTime::as_secs),
            jti: p.jwt_id(),
            iss: p.issuer(),
            tid: p.tenant(),
            aud: p.audience().collect(),
            kid: p.key_id(),
            alg: p.algorithm().map_or("none", |a| a.name()),
        }),
        Err(e) => serde_json::to_string(&Rejected {
            valid: false,
            error: e.bearer_error().map_or("invalid_token", |b| b.as_str()),
            reason: e.reason(),
        }),
    };
    // Serializing these plain structs cannot fail; fall back to a fixed line regardless.
    line.unwrap_or_else(|_| {
        String::from(r#"{"valid":false,"error":"invalid_token","reason":"internal"}"#)
    })
}
