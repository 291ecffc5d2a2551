//! What the adapters report to the [`metrics`](https://docs.rs/metrics) facade, behind the
//! `metrics` feature (without it every function here does nothing). Libraries emit; the binary
//! chooses the exporter (`mcp-authz proxy --metrics-listen` serves Prometheus text).
//!
//! Every label value comes from a fixed set — the core's reason names, HTTP status classes, fetch
//! outcomes — never from token or request bytes.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `mcp_authz_decisions_total` | counter | `outcome` (`allow`, `public`, `reject`, `served`), `status`, `reason` |
//! | `mcp_authz_decision_seconds` | histogram | `outcome` |
//! | `mcp_authz_jwks_fetches_total` | counter | `jwks_uri` (configured), `result` (`ok` or the failure's reason) |
//! | `mcp_authz_kid_misses_total` | counter | `action` (`fetch`, `rejected`) |
//! | `mcp_authz_jwks_keys` | gauge | `jwks_uri` |
//! | `mcp_authz_jwks_age_seconds` | gauge | `jwks_uri` (since the keys in use were fetched) |
//! | `mcp_authz_introspections_total` | counter | `result` (`active`, `refused`, `shared`: read from another replica's answer in the store, or the failure's reason) |
//! | `mcp_authz_upstream_seconds` | histogram | `status` (the proxy) |
//! | `mcp_authz_rate_limit_total` | counter | `route`, `kind` (`requests`, `tool`), `outcome` (`allowed`, `limited`, `store_unavailable`) |
//! | `mcp_authz_session_bindings` | gauge | (sessions bound in this process; not set with a shared store) |
//! | `mcp_authz_token_exchanges_total` | counter | `result` (`hit`: from the cache, `issued`, or the refusal's reason) |
//! | `mcp_authz_store_errors_total` | counter | `op` (`rate_limit`, `dpop_replay`, `sessions`, `introspection`, `single_use`): the shared store could not answer |

use std::time::Instant;

/// The label of an HTTP status: its own digits for the statuses mcp-authz answers, else its
/// class (`2xx` …): a fixed set.
pub fn status_label(status: u16) -> &'static str {
    const OWN: [(u16, &str); 13] = [
        (200, "200"),
        (204, "204"),
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (405, "405"),
        (413, "413"),
        (415, "415"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
    ];
    if let Some((_, label)) = OWN.iter().find(|(s, _)| *s == status) {
        return label;
    }
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// One decision of the request loop for the resource `route` (its name; empty when the
/// adapter protects one), `started` when the request arrived.
pub fn decision(
    route: &std::sync::Arc<str>,
    outcome: &'static str,
    status: u16,
    reason: Option<&'static str>,
    started: Instant,
) {
    #[cfg(feature = "metrics")]
    {
        // Every request passes here: the labels are the route's shared string and static ones,
        // so recording allocates nothing of its own.
        let route = metrics::SharedString::from(route.clone());
        let labels = vec![
            metrics::Label::new("route", route.clone()),
            metrics::Label::from_static_parts("outcome", outcome),
            metrics::Label::from_static_parts("status", status_label(status)),
            metrics::Label::from_static_parts("reason", reason.unwrap_or("none")),
        ];
        metrics::counter!("mcp_authz_decisions_total", labels).increment(1);
        metrics::histogram!("mcp_authz_decision_seconds", "route" => route, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (route, outcome, status, reason, started);
}

/// One fetch of the JWK Set at `jwks_uri` (a configured URL): `Ok(number of keys)` or the
/// failure's reason.
pub fn jwks_fetch(jwks_uri: &str, result: Result<usize, &'static str>) {
    #[cfg(feature = "metrics")]
    {
        let uri = jwks_uri.to_owned();
        match result {
            Ok(keys) => {
                metrics::counter!("mcp_authz_jwks_fetches_total", "jwks_uri" => uri.clone(), "result" => "ok")
                    .increment(1);
                metrics::gauge!("mcp_authz_jwks_keys", "jwks_uri" => uri.clone()).set(keys as f64);
                metrics::gauge!("mcp_authz_jwks_age_seconds", "jwks_uri" => uri).set(0.0);
            }
            Err(reason) => {
                metrics::counter!("mcp_authz_jwks_fetches_total", "jwks_uri" => uri, "result" => reason)
                    .increment(1)
            }
        }
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (jwks_uri, result);
}

/// The age of the key set in use at `jwks_uri`, in seconds.
pub fn jwks_age(jwks_uri: &str, secs: u64) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("mcp_authz_jwks_age_seconds", "jwks_uri" => jwks_uri.to_owned())
        .set(secs as f64);
    #[cfg(not(feature = "metrics"))]
    let _ = (jwks_uri, secs);
}

/// A token named a `kid` the keys lack: `fetch` (a fetch was awaited) or `rejected` (the
/// cooldown or the negative cache refused it).
pub fn kid_miss(action: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_authz_kid_misses_total", "action" => action).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = action;
}

/// One introspection call: `active`, `refused`, or the failure's reason.
pub fn introspection(result: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_authz_introspections_total", "result" => result).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// One upstream exchange of the proxy's `route`, from the request sent to the response head.
pub fn upstream(route: &str, status: u16, started: Instant) {
    #[cfg(feature = "metrics")]
    metrics::histogram!("mcp_authz_upstream_seconds", "route" => route.to_owned(), "status" => status_label(status))
        .record(started.elapsed().as_secs_f64());
    #[cfg(not(feature = "metrics"))]
    let _ = (route, status, started);
}

/// The MCP sessions bound to their callers, after a binding.
pub fn sessions(bound: usize) {
    #[cfg(feature = "metrics")]
    metrics::gauge!("mcp_authz_session_bindings").set(bound as f64);
    #[cfg(not(feature = "metrics"))]
    let _ = bound;
}

/// One attempt of a lazy start's discovery for `issuer` (`validated` or `failed`), and whether
/// every authorization server is ready since (`mcp_authz_ready`, 1 or 0).
pub fn discovery(issuer: &str, validated: bool, ready: bool) {
    #[cfg(feature = "metrics")]
    {
        let outcome = if validated { "validated" } else { "failed" };
        metrics::counter!("mcp_authz_discovery_attempts_total", "issuer" => issuer.to_owned(), "outcome" => outcome)
            .increment(1);
        metrics::gauge!("mcp_authz_ready").set(if ready { 1.0 } else { 0.0 });
    }
    #[cfg(not(feature = "metrics"))]
    let _ = (issuer, validated, ready);
}

/// Revalidated metadata of `issuer` changed its issuer or `jwks_uri` and was refused.
pub fn metadata_changed(issuer: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_authz_metadata_changes_refused_total", "issuer" => issuer.to_owned())
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = issuer;
}

/// One reload of the TLS certificate of a listener: `reloaded` or `refused`.
pub fn tls_reload(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_authz_tls_reloads_total", "outcome" => outcome).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = outcome;
}

/// One reload of the proxy's configuration: `reloaded` or `refused`.
pub fn config_reload(outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_authz_config_reloads_total", "outcome" => outcome).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = outcome;
}

/// One rate-limit check of `route`: `kind` is `requests` (every request) or `tool`, `outcome`
/// `allowed` or `limited`.
pub fn rate_limit(route: &str, kind: &'static str, outcome: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_authz_rate_limit_total", "route" => route.to_owned(), "kind" => kind, "outcome" => outcome)
        .increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = (route, kind, outcome);
}

/// One token exchange asked for: served from the cache, issued, or refused (its reason).
pub fn token_exchange(result: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_authz_token_exchanges_total", "result" => result).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = result;
}

/// One failed operation of a shared store (`op`: what it was for, e.g. `rate_limit`).
pub fn store_error(op: &'static str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_authz_store_errors_total", "op" => op).increment(1);
    #[cfg(not(feature = "metrics"))]
    let _ = op;
}
