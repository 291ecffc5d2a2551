//! `mcp-authz check`: validate authorization-server metadata the way the resource server does
//! before it starts (RFC 8414 / OIDC Discovery; see `mcp_authz_core::as_metadata`).
//!
//! Exit status: 0 valid, 1 not valid, 2 unusable input.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use mcp_authz_core::as_metadata::{
    issuer_from_metadata_url, validate, MetadataPolicy, Report, REQUIRED_FIELDS,
};
use mcp_authz_driver::{fetch_metadata, FetchOptions, HttpFetcher};
use serde::Serialize;

use crate::provider::{advice, recognise, Advice, Provider};

/// Arguments of `mcp-authz check`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("expected").args(["metadata_url", "issuer"])))]
pub struct CheckArgs {
    /// The metadata URL to fetch and check.
    #[arg(value_name = "METADATA_URL", conflicts_with_all = ["file", "metadata_url"])]
    url: Option<String>,
    /// Check this file instead of fetching, as if it had been fetched from --metadata-url.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// The URL the file was fetched from; the expected issuer is derived from it.
    #[arg(long, value_name = "URL")]
    metadata_url: Option<String>,
    /// The expected issuer, given explicitly.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Print one JSON object instead of the report.
    #[arg(long)]
    json: bool,
    /// Accept a document with neither registration_endpoint nor Client ID Metadata Document
    /// support (every client pre-registered).
    #[arg(long)]
    allow_missing_registration: bool,
    /// Accept plain http URLs on loopback hosts (development only).
    #[arg(long)]
    allow_http_loopback: bool,
}

/// Fetches `url` with the adapter's HTTPS client and validates it.
fn fetch(
    url: &str,
    issuer: Option<&str>,
    policy: &MetadataPolicy,
    allow_http_loopback: bool,
) -> Result<(Report, String), String> {
    let expected = match issuer {
        Some(i) => i.to_owned(),
        None => issuer_from_metadata_url(url).map_err(|e| format!("{url}: {e}"))?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let fetcher =
        HttpFetcher::new(FetchOptions::default().allow_http_loopback(allow_http_loopback))
            .map_err(|e| e.to_string())?;
    let report = runtime
        .block_on(fetch_metadata(&fetcher, url, Some(&expected), policy))
        .map_err(|e| e.to_string())?;
    Ok((report, expected))
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("mcp-authz check: {message}");
    ExitCode::from(2)
}

/// `mcp-authz check`.
pub fn run(args: CheckArgs) -> ExitCode {
    let policy = MetadataPolicy::new()
        .allow_missing_registration(args.allow_missing_registration)
        .allow_http_loopback(args.allow_http_loopback);
    let report = match (&args.file, &args.url) {
        (Some(file), _) => {
            let expected = match (&args.metadata_url, &args.issuer) {
                (Some(url), None) => match issuer_from_metadata_url(url) {
                    Ok(issuer) => issuer,
                    Err(e) => return fail(format_args!("{url}: {e}")),
                },
                (None, Some(issuer)) => issuer.clone(),
                _ => return fail("give exactly one of --metadata-url and --issuer"),
            };
            let document = match std::fs::read(file) {
                Ok(bytes) => bytes,
                Err(e) => return fail(format_args!("cannot read {}: {e}", file.display())),
            };
            (validate(&document, &expected, &policy), expected)
        }
        (None, Some(url)) => match fetch(
            url,
            args.issuer.as_deref(),
            &policy,
            args.allow_http_loopback,
        ) {
            Ok(r) => r,
            Err(message) => return fail(message),
        },
        (None, None) => {
            return fail(
                "give METADATA_URL, or --file FILE with --metadata-url URL or --issuer URL",
            )
        }
    };
    let (report, expected) = report;
    let printed = if args.json {
        print_json(&report)
    } else {
        print_text(&report, &expected)
    };
    if printed.is_err() {
        return fail("cannot write to stdout");
    }
    if report.is_valid() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    valid: bool,
    issuer: Option<&'a str>,
    problems: Vec<JsonProblem>,
    warnings: Vec<JsonWarning>,
    provider: Option<&'static str>,
    advice: Vec<JsonAdvice>,
    /// RFC 7662: where opaque tokens can be introspected (`null`: they cannot).
    introspection_endpoint: Option<&'a str>,
    /// How MCP clients can register, in the order they try.
    client_registration: Vec<&'static str>,
}

#[derive(Serialize)]
struct JsonAdvice {
    flag: Option<&'static str>,
    why: &'static str,
}

/// The document's `introspection_endpoint` (RFC 8414 §2), when it is a string.
fn introspection_endpoint(report: &Report) -> Option<&str> {
    report
        .document
        .as_ref()?
        .get("introspection_endpoint")?
        .as_str()
        .filter(|s| !s.is_empty())
}

/// The provider the document comes from, and what to configure for it.
fn provider_advice(report: &Report) -> Option<(Provider, Vec<Advice>)> {
    let (issuer, doc) = (report.issuer.as_deref()?, report.document.as_ref()?);
    let provider = recognise(issuer, doc)?;
    Some((provider, advice(provider, issuer, doc)))
}

#[derive(Serialize)]
struct JsonProblem {
    field: &'static str,
    problem: &'static str,
    message: &'static str,
}

#[derive(Serialize)]
struct JsonWarning {
    field: &'static str,
    warning: &'static str,
    message: &'static str,
}

fn print_json(report: &Report) -> std::io::Result<()> {
    let out = JsonReport {
        valid: report.is_valid(),
        issuer: report.issuer.as_deref(),
        problems: report
            .problems
            .iter()
            .map(|p| JsonProblem {
                field: p.field,
                problem: p.kind.reason(),
                message: p.kind.as_str(),
            })
            .collect(),
        warnings: report
            .warnings
            .iter()
            .map(|w| JsonWarning {
                field: w.field(),
                warning: w.reason(),
                message: w.as_str(),
            })
            .collect(),
        provider: None,
        advice: Vec::new(),
        introspection_endpoint: introspection_endpoint(report),
        client_registration: registration_paths(report),
    };
    let mut out = out;
    if let Some((provider, advice)) = provider_advice(report) {
        out.provider = Some(provider.name());
        out.advice = advice
            .into_iter()
            .map(|a| JsonAdvice {
                flag: a.flag,
                why: a.why,
            })
            .collect();
    }
    let line = serde_json::to_string(&out).map_err(std::io::Error::other)?;
    use std::io::Write;
    writeln!(std::io::stdout(), "{line}")
}

/// Whether the document says `client_id_metadata_document_supported: true`.
fn metadata_documents(report: &Report) -> bool {
    report
        .document
        .as_ref()
        .and_then(|d| d.get("client_id_metadata_document_supported"))
        == Some(&serde_json::Value::Bool(true))
}

/// The ways MCP clients can register with this server, in the order they try them (MCP
/// 2025-11-25 "Client Registration": pre-registered, Client ID Metadata Document, Dynamic Client
/// Registration).
fn registration_paths(report: &Report) -> Vec<&'static str> {
    let mut paths = vec!["pre-registered client id (when the client has one)"];
    if metadata_documents(report) {
        paths.push("Client ID Metadata Document");
    }
    let dcr = report
        .document
        .as_ref()
        .is_some_and(|d| d.contains_key("registration_endpoint"));
    if dcr {
        paths.push("Dynamic Client Registration");
    }
    paths
}

fn print_text(report: &Report, expected: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Authorization-server metadata, expected issuer {expected}"
    )?;
    let document_problems: Vec<_> = report.problems_of("document").collect();
    for kind in &document_problems {
        writeln!(out, "  ✗ document: {kind}")?;
    }
    if document_problems.is_empty() {
        let doc = report.document.as_ref();
        for field in REQUIRED_FIELDS {
            let problems: Vec<_> = report.problems_of(field).collect();
            if problems.is_empty() {
                let absent = match metadata_documents(report) {
                    true => "(absent: clients use Client ID Metadata Documents)",
                    false => "(absent: allowed by --allow-missing-registration)",
                };
                let value = doc
                    .and_then(|d| d.get(field))
                    .and_then(|v| v.as_str())
                    .unwrap_or(absent);
                writeln!(out, "  ✓ {field:<24} {value}")?;
            } else {
                let value = doc.and_then(|d| d.get(field)).map(|v| v.to_string());
                for kind in problems {
                    match &value {
                        Some(v) => writeln!(out, "  ✗ {field:<24} {kind}: {v}")?,
                        None => writeln!(out, "  ✗ {field:<24} {kind}")?,
                    }
                }
            }
        }
    }
    match introspection_endpoint(report) {
        Some(url) => writeln!(
            out,
            "  · {:<24} {url} (opaque tokens can be checked: --introspect non-jwt)",
            "introspection_endpoint"
        )?,
        None if document_problems.is_empty() => writeln!(
            out,
            "  · {:<24} absent: only JWT access tokens can be verified",
            "introspection_endpoint"
        )?,
        None => {}
    }
    if document_problems.is_empty() {
        writeln!(
            out,
            "  · {:<24} {}",
            "client registration",
            registration_paths(report).join(", then ")
        )?;
    }
    for w in &report.warnings {
        writeln!(out, "  ! {w}")?;
    }
    match report.problems.len() {
        0 => writeln!(out, "valid")?,
        1 => writeln!(out, "NOT valid: 1 problem")?,
        n => writeln!(out, "NOT valid: {n} problems")?,
    }
    if let Some((provider, advice)) = provider_advice(report) {
        writeln!(
            out,
            "\n{}: for its real tokens, `mcp-authz proxy` may need",
            provider.title()
        )?;
        for a in advice {
            match a.flag {
                Some(flag) => writeln!(out, "  {flag:<34} {}", a.why)?,
                None => writeln!(out, "  note: {}", a.why)?,
            }
        }
    }
    Ok(())
}
