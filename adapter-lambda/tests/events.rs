//! The Lambda adapter, in process, from real event fixtures (see `fixtures/README.md`): public
//! URLs per front door, challenges, both well-known forms, verification, duplicate credentials.

#![allow(missing_docs, clippy::unwrap_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::sync::Arc;

use lambda_http::Body;
use mcp_authz_core::{Principal, ScopePolicy};
use mcp_authz_lambda::{LambdaAuthz, LambdaAuthzService};
use mcp_authz_testkit::auth_server::DevAuthServer;
use serde_json::{json, Value};
use tower::{Service, ServiceExt};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The handler: reports the path it was called with and what the middleware gave it.
async fn handler(req: http::Request<Body>) -> Result<http::Response<String>, Infallible> {
    let p = req.extensions().get::<Arc<Principal>>().cloned();
    let out = json!({
        "path": req.uri().path(),
        "subject": p.as_ref().and_then(|p| p.subject().map(String::from)),
        "authorization_seen": req.headers().contains_key("authorization"),
    });
    Ok(http::Response::new(out.to_string()))
}

type Handler = tower::util::ServiceFn<
    fn(
        http::Request<Body>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<http::Response<String>, Infallible>> + Send>,
    >,
>;

fn boxed_handler(
    req: http::Request<Body>,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<http::Response<String>, Infallible>> + Send>,
> {
    Box::pin(handler(req))
}

struct Rig {
    auth: Arc<DevAuthServer>,
    authz: LambdaAuthz,
    svc: LambdaAuthzService<Handler>,
}

async fn rig(
    configure: impl FnOnce(mcp_authz_lambda::LambdaAuthzBuilder) -> mcp_authz_lambda::LambdaAuthzBuilder,
) -> Rig {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let auth = DevAuthServer::new(
        issuer.clone(),
        "unused".into(),
        vec!["mcp:tools".into(), "mcp:admin".into()],
    )
    .unwrap();
    let router = auth.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let builder = LambdaAuthz::builder()
        .metadata_url(format!("{issuer}/.well-known/oauth-authorization-server"))
        .allow_http_loopback(true)
        .scopes(ScopePolicy::new(["mcp:tools"]).with_tool_scopes("admin_reset", ["mcp:admin"]));
    let authz = configure(builder).build().await.unwrap();
    let svc = authz.wrap(tower::service_fn(boxed_handler as fn(_) -> _));
    Rig { auth, authz, svc }
}

async fn call(rig: &mut Rig, event: &Value) -> (u16, http::HeaderMap, Value) {
    call_service(&mut rig.svc, event).await
}

async fn call_service<S>(svc: &mut S, event: &Value) -> (u16, http::HeaderMap, Value)
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = lambda_http::Error>,
{
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = svc.ready().await.unwrap().call(req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = match resp.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap_or(Value::Null),
        Body::Binary(b) => serde_json::from_slice(b).unwrap_or(Value::Null),
        _ => Value::Null,
    };
    (status, headers, body)
}

fn set_header(event: &mut Value, name: &str, value: &str) {
    event["headers"][name] = json!(value);
    if event.get("multiValueHeaders").is_some_and(Value::is_object) {
        event["multiValueHeaders"][name] = json!([value]);
    }
}

/// REST API (v1) on an execute-api named stage: requestContext.path carries the stage.
fn rest(path_after_stage: &str) -> Value {
    let mut e = fixture("example-apigw-request.json");
    e["httpMethod"] = json!("POST");
    e["path"] = json!(path_after_stage);
    e["resource"] = json!("/{proxy+}");
    e["requestContext"]["path"] = json!(format!("/prod{path_after_stage}"));
    e["requestContext"]["stage"] = json!("prod");
    e["requestContext"]["domainName"] = json!("abc123.execute-api.us-east-1.amazonaws.com");
    e["requestContext"]["httpMethod"] = json!("POST");
    e["body"] =
        json!(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#);
    e["multiValueHeaders"] = json!({});
    e["headers"] = json!({"Host": "abc123.execute-api.us-east-1.amazonaws.com", "X-Forwarded-Proto": "https", "content-type": "application/json"});
    e["queryStringParameters"] = Value::Null;
    e["multiValueQueryStringParameters"] = Value::Null;
    e
}

fn v2(name: &str, raw_path: &str) -> Value {
    let mut e = fixture(name);
    e["rawPath"] = json!(raw_path);
    e["requestContext"]["http"]["path"] = json!(raw_path);
    e["requestContext"]["http"]["method"] = json!("POST");
    e["rawQueryString"] = json!("");
    e["queryStringParameters"] = json!({});
    e["cookies"] = json!([]);
    e["body"] =
        json!(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#);
    e["isBase64Encoded"] = json!(false);
    let mut headers = e["headers"].as_object().cloned().unwrap_or_default();
    headers.retain(|k, _| {
        !k.eq_ignore_ascii_case("authorization") && !k.eq_ignore_ascii_case("content-length")
    });
    headers.insert("content-type".into(), json!("application/json"));
    e["headers"] = Value::Object(headers);
    e
}

fn with_method(mut e: Value, method: &str) -> Value {
    if e.get("httpMethod").is_some() {
        e["httpMethod"] = json!(method);
    } else {
        e["requestContext"]["http"]["method"] = json!(method);
    }
    e["body"] = Value::Null;
    e
}

async fn check_front_door(rig: &mut Rig, event: Value, resource: &str, well_known: &[&str]) {
    // No token: 401 pointing at the metadata.
    let (status, headers, _) = call(rig, &event).await;
    assert_eq!(status, 401, "{resource}");
    let challenge = headers["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("Bearer resource_metadata=\""),
        "{challenge}"
    );
    assert!(challenge.ends_with(r#"scope="mcp:tools""#), "{challenge}");
    // The metadata at each well-known path the front door can route.
    for path in well_known {
        let mut e = with_method(event.clone(), "GET");
        if e.get("rawPath").is_some() {
            e["rawPath"] = json!(path);
            e["requestContext"]["http"]["path"] = json!(path);
        } else if e
            .get("requestContext")
            .and_then(|c| c.get("path"))
            .is_some()
            && e["requestContext"]["path"].is_string()
        {
            e["requestContext"]["path"] = json!(path);
            e["path"] = json!(path.strip_prefix("/prod").unwrap_or(path));
        } else {
            e["path"] = json!(path);
        }
        let (status, _, doc) = call(rig, &e).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(doc["resource"], resource, "{path}");
    }
    // A valid token for this resource: the handler runs with the principal, without the header,
    // at the application path.
    let token = rig.auth.mint("lambda-test", "mcp:tools", resource).unwrap();
    let mut e = event.clone();
    set_header(&mut e, "authorization", &format!("Bearer {token}"));
    let (status, _, body) = call(rig, &e).await;
    assert_eq!(status, 200, "{resource}: {body}");
    assert_eq!(body["subject"], "demo-user");
    assert_eq!(body["authorization_seen"], false);
    assert_eq!(body["path"], "/mcp");
    // A token for another resource (another stage, another domain) is refused.
    let other = rig
        .auth
        .mint("lambda-test", "mcp:tools", "https://other.example.com/mcp")
        .unwrap();
    let mut e = event.clone();
    set_header(&mut e, "authorization", &format!("Bearer {other}"));
    let (status, headers, _) = call(rig, &e).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains(r#"error="invalid_token""#));
}

#[tokio::test]
async fn rest_api_with_a_named_stage() {
    let mut rig = rig(|b| b).await;
    let resource = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/mcp";
    let (_, headers, _) = call(&mut rig, &rest("/mcp")).await;
    // The challenge points at the stage-prefixed metadata URL, which can reach the function.
    assert_eq!(
        headers["www-authenticate"],
        "Bearer resource_metadata=\"https://abc123.execute-api.us-east-1.amazonaws.com/prod/.well-known/oauth-protected-resource/prod/mcp\", scope=\"mcp:tools\""
    );
    check_front_door(
        &mut rig,
        rest("/mcp"),
        resource,
        &[
            "/prod/.well-known/oauth-protected-resource/prod/mcp",
            "/prod/.well-known/oauth-protected-resource",
            "/.well-known/oauth-protected-resource/prod/mcp",
        ],
    )
    .await;
}

#[tokio::test]
async fn http_api_default_stage() {
    let mut rig = rig(|b| b).await;
    let e = v2("apigw_v2_proxy_request.json", "/mcp");
    check_front_door(
        &mut rig,
        e,
        "https://id.execute-api.us-east-1.amazonaws.com/mcp",
        &[
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource",
        ],
    )
    .await;
}

#[tokio::test]
async fn http_api_named_stage() {
    let mut rig = rig(|b| b).await;
    let e = v2(
        "apigw_v2_proxy_request_with_stage_in_path.json",
        "/Prod/mcp",
    );
    check_front_door(
        &mut rig,
        e,
        "https://id.execute-api.us-east-1.amazonaws.com/Prod/mcp",
        &[
            "/Prod/.well-known/oauth-protected-resource/Prod/mcp",
            "/.well-known/oauth-protected-resource/Prod/mcp",
        ],
    )
    .await;
}

#[tokio::test]
async fn function_url() {
    let mut rig = rig(|b| b).await;
    let e = v2("lambda_function_url_request.json", "/mcp");
    check_front_door(
        &mut rig,
        e,
        "https://id.lambda-url.eu-west-2.on.aws/mcp",
        &[
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource",
        ],
    )
    .await;
}

fn alb(path: &str) -> Value {
    let mut e = fixture("alb_request.json");
    e["path"] = json!(path);
    e["httpMethod"] = json!("POST");
    e["queryStringParameters"] = json!({});
    e["body"] =
        json!(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#);
    e["headers"]["content-type"] = json!("application/json");
    e
}

#[tokio::test]
async fn alb_needs_its_host_allowed() {
    // The client sets Host on ALB: it is trusted only when listed.
    let mut rig_unlisted = rig(|b| b).await;
    let (status, _, _) = call(&mut rig_unlisted, &alb("/mcp")).await;
    assert_eq!(status, 421);
    let mut rig = rig(|b| b.allowed_hosts(["lambda-846800462-us-east-2.elb.amazonaws.com"])).await;
    check_front_door(
        &mut rig,
        alb("/mcp"),
        "https://lambda-846800462-us-east-2.elb.amazonaws.com/mcp",
        &[
            "/.well-known/oauth-protected-resource/mcp",
            "/.well-known/oauth-protected-resource",
        ],
    )
    .await;
}

#[tokio::test]
async fn custom_domain_with_a_base_path_uses_the_configured_public_url() {
    let mut rig = rig(|b| b.public_base_url("https://api.example.com/v1")).await;
    let mut e = rest("/mcp");
    e["requestContext"]["domainName"] = json!("api.example.com");
    e["requestContext"]["path"] = json!("/v1/mcp");
    e["headers"]["Host"] = json!("api.example.com");
    let (status, headers, _) = call(&mut rig, &e).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("https://api.example.com/v1/.well-known/oauth-protected-resource/v1/mcp"));
    let token = rig
        .auth
        .mint("t", "mcp:tools", "https://api.example.com/v1/mcp")
        .unwrap();
    set_header(&mut e, "authorization", &format!("Bearer {token}"));
    let (status, _, body) = call(&mut rig, &e).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/mcp");
}

#[tokio::test]
async fn duplicate_authorization_headers() {
    let mut rig = rig(|b| b).await;
    let token = rig
        .auth
        .mint(
            "t",
            "mcp:tools",
            "https://abc123.execute-api.us-east-1.amazonaws.com/prod/mcp",
        )
        .unwrap();
    // REST: API Gateway collapses duplicate headers, and lambda_http keeps the single-value map's
    // (last) value over multiValueHeaders: the function sees one credential. It is verified as
    // such: a bad last value is a 401, never a pass.
    let mut e = rest("/mcp");
    e["headers"]["Authorization"] = json!("Bearer not-a-token");
    e["multiValueHeaders"]["Authorization"] =
        json!([format!("Bearer {token}"), "Bearer not-a-token"]);
    let (status, _, _) = call(&mut rig, &e).await;
    assert_eq!(status, 401);
    // Two headers that do reach the function (a front door that keeps them) are a 400.
    let mut e = v2("apigw_v2_proxy_request.json", "/mcp");
    e["multiValueHeaders"] =
        json!({"authorization": [format!("Bearer {token}"), format!("Bearer {token}")]});
    let req = lambda_http::request::from_str(&e.to_string()).unwrap();
    let (mut parts, body) = req.into_parts();
    parts
        .headers
        .append("authorization", format!("Bearer {token}").parse().unwrap());
    parts
        .headers
        .append("authorization", format!("Bearer {token}").parse().unwrap());
    let resp = rig
        .svc
        .ready()
        .await
        .unwrap()
        .call(http::Request::from_parts(parts, body))
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    // HTTP API joins duplicates with a comma.
    let mut e = v2("apigw_v2_proxy_request.json", "/mcp");
    e["headers"]["authorization"] = json!(format!("Bearer {token},Bearer {token}"));
    let (status, headers, _) = call(&mut rig, &e).await;
    assert_eq!(status, 400);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("more than one credential"));
}

#[tokio::test]
async fn warm_invocations_reuse_keys_and_unknown_kids_fetch_inline() {
    let mut rig = rig(|b| b).await;
    let resource = "https://id.execute-api.us-east-1.amazonaws.com/mcp";
    let token = rig.auth.mint("t", "mcp:tools", resource).unwrap();
    let mut e = v2("apigw_v2_proxy_request.json", "/mcp");
    e["headers"]["authorization"] = json!(format!("Bearer {token}"));
    for _ in 0..5 {
        assert_eq!(call(&mut rig, &e).await.0, 200);
    }
    // A kid the set does not have: one inline fetch, then a clean 401.
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let header = json!({"alg":"ES256","typ":"at+jwt","kid":"not-published"});
    parts[0] = <base64ct::Base64UrlUnpadded as base64ct::Encoding>::encode_string(
        &serde_json::to_vec(&header).unwrap(),
    );
    e["headers"]["authorization"] = json!(format!("Bearer {}", parts.join(".")));
    let (status, headers, _) = call(&mut rig, &e).await;
    assert_eq!(status, 401);
    assert!(headers["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("the access token key is unknown"));
}

/// The fail-open regression on Lambda: the example function nests its MCP service at `/mcp`,
/// and axum routes every path under it there. Each one needs a token; a form body is refused
/// when a tool scope applies; public paths reach the router without one.
#[tokio::test]
async fn a_nested_router_is_protected_on_every_path() {
    let rig = rig(|b| b.public_path("/healthz")).await;
    let inner = tower::service_fn(|req: http::Request<axum::body::Body>| async move {
        let p = req.extensions().get::<Arc<Principal>>().cloned();
        let out = json!({"path": req.uri().path(), "subject": p.and_then(|p| p.subject().map(String::from))});
        Ok::<_, Infallible>(http::Response::new(out.to_string()))
    });
    let router = axum::Router::new().nest_service("/mcp", inner).route(
        "/healthz",
        axum::routing::get(|| async { r#"{"status":"ok"}"# }),
    );
    let mut svc = rig.authz.wrap(router);
    let resource = "https://id.execute-api.us-east-1.amazonaws.com/mcp";
    let admin_call =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"admin_reset"}}"#;
    let basic = rig.auth.mint("lambda-test", "mcp:tools", resource).unwrap();
    for path in mcp_authz_testkit::client::PATHS_UNDER_MCP {
        let mut e = v2("apigw_v2_proxy_request.json", path);
        e["body"] = json!(admin_call);
        let (status, headers, body) = call_service(&mut svc, &e).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(headers.contains_key("www-authenticate"), "{path}");
        set_header(&mut e, "authorization", &format!("Bearer {basic}"));
        let (status, _, body) = call_service(&mut svc, &e).await;
        assert_eq!(status, 403, "{path}: {body}");
        set_header(&mut e, "content-type", "application/x-www-form-urlencoded");
        let (status, _, body) = call_service(&mut svc, &e).await;
        assert_eq!(status, 415, "{path}: {body}");
    }
    // With the admin scope the call reaches the nested service, under the path it was sent to.
    let admin = rig
        .auth
        .mint("lambda-test", "mcp:tools mcp:admin", resource)
        .unwrap();
    let mut e = v2("apigw_v2_proxy_request.json", "/mcp/");
    e["body"] = json!(admin_call);
    set_header(&mut e, "authorization", &format!("Bearer {admin}"));
    let (status, _, body) = call_service(&mut svc, &e).await;
    assert_eq!(
        (status, body["subject"].clone()),
        (200, json!("demo-user")),
        "{body}"
    );
    // The public path needs nothing.
    let e = with_method(v2("apigw_v2_proxy_request.json", "/healthz"), "GET");
    let (status, _, body) = call_service(&mut svc, &e).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
}

/// An HTTP API event for `https://{domain}/mcp`, with a token for that resource.
fn signed_in_at(rig: &Rig, domain: &str) -> Value {
    let mut e = v2("apigw_v2_proxy_request.json", "/mcp");
    e["requestContext"]["domainName"] = json!(domain);
    set_header(&mut e, "host", domain);
    let token = rig
        .auth
        .mint("lambda-test", "mcp:tools", &format!("https://{domain}/mcp"))
        .unwrap();
    set_header(&mut e, "authorization", &format!("Bearer {token}"));
    e
}

/// Two public origins (a custom domain and execute-api) alternating: each has its own
/// verified-token cache, so switching between them does not empty it.
#[tokio::test]
async fn two_origins_alternating_keep_their_cache() {
    let mut rig = rig(|b| b).await;
    let mut events = Vec::new();
    for domain in ["mcp.example.com", "id.execute-api.us-east-1.amazonaws.com"] {
        events.push(signed_in_at(&rig, domain));
    }
    for i in 0..20 {
        let (status, _, body) = call(&mut rig, &events[i % 2]).await;
        assert_eq!(status, 200, "{i}: {body}");
    }
    // One verification per origin; every other request is a cache hit.
    assert_eq!(rig.authz.token_cache_stats(), (18, 2));
}

/// No base URL configured, so each made-up prefix in a well-known path is a public resource URL
/// of its own: unauthenticated requests naming many of them must not evict the guard, and the
/// token cache, of the origin in use.
#[tokio::test]
async fn made_up_resource_urls_do_not_evict_the_origins_in_use() {
    let mut rig = rig(|b| b).await;
    let domain = "mcp.example.com";
    let e = signed_in_at(&rig, domain);
    let (status, _, body) = call(&mut rig, &e).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rig.authz.token_cache_stats(), (0, 1));
    for i in 0..40 {
        let path = format!("/.well-known/oauth-protected-resource/made-up-{i}/mcp");
        let mut probe = with_method(v2("apigw_v2_proxy_request.json", &path), "GET");
        probe["requestContext"]["domainName"] = json!(domain);
        set_header(&mut probe, "host", domain);
        let (status, _, body) = call(&mut rig, &probe).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["resource"],
            json!(format!("https://{domain}/made-up-{i}/mcp"))
        );
        // And the same without any token, at the made-up resource itself.
        let mut unauth = v2("apigw_v2_proxy_request.json", &format!("/made-up-{i}/mcp"));
        unauth["requestContext"]["domainName"] = json!(format!("{i}.{domain}"));
        let (status, _, _) = call(&mut rig, &unauth).await;
        assert_eq!(status, 401);
    }
    // The first origin's guard and cache are still there: a hit, not a second verification.
    let (status, _, body) = call(&mut rig, &e).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rig.authz.token_cache_stats(), (1, 1));
}

/// Two issuers, offline: each issuer's tokens pass with its own keys; a token naming one
/// issuer but signed by the other's key, or naming neither, is refused.
#[tokio::test]
async fn two_issuers_offline_each_with_its_own_keys() {
    let resource = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/mcp";
    let server = |issuer: &str| {
        DevAuthServer::new(issuer.into(), resource.into(), vec!["mcp:tools".into()]).unwrap()
    };
    let (a, b) = (
        server("https://a.example.com"),
        server("https://b.example.com"),
    );
    let keys = |s: &DevAuthServer| {
        mcp_authz_core::JwkSet::parse(s.jwk_set().to_string().as_bytes(), &Default::default())
            .unwrap()
    };
    let authz = LambdaAuthz::builder()
        .issuer(a.issuer())
        .issuer(b.issuer())
        .scopes(ScopePolicy::new(["mcp:tools"]))
        .build_offline_per_issuer(vec![keys(&a), keys(&b)])
        .unwrap();
    assert_eq!(
        authz.issuers().collect::<Vec<_>>(),
        [a.issuer(), b.issuer()]
    );
    // One key set for two issuers is a configuration error, not a guess.
    assert!(LambdaAuthz::builder()
        .issuer(a.issuer())
        .issuer(b.issuer())
        .build_offline(keys(&a))
        .is_err());
    let mut svc = authz.wrap(tower::service_fn(boxed_handler as fn(_) -> _));
    let with_token = |token: &str| {
        let mut e = rest("/mcp");
        set_header(&mut e, "authorization", &format!("Bearer {token}"));
        e
    };
    for s in [&a, &b] {
        let token = s.mint("c", "mcp:tools", resource).unwrap();
        let (status, _, body) = call_service(&mut svc, &with_token(&token)).await;
        assert_eq!(status, 200, "{body}");
    }
    let imposter = server("https://a.example.com");
    let stranger = server("https://c.example.com");
    for token in [
        imposter.mint("c", "mcp:tools", resource).unwrap(),
        stranger.mint("c", "mcp:tools", resource).unwrap(),
    ] {
        assert_eq!(call_service(&mut svc, &with_token(&token)).await.0, 401);
    }
    // The metadata lists both issuers, in order.
    let mut wk = with_method(rest("/.well-known/oauth-protected-resource/mcp"), "GET");
    wk["requestContext"]["path"] = json!("/prod/.well-known/oauth-protected-resource/mcp");
    let (status, _, body) = call_service(&mut svc, &wk).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["authorization_servers"],
        json!([a.issuer(), b.issuer()])
    );
}

/// Opaque tokens on Lambda: introspected at the authorization server, the answer kept across
/// invocations of the environment.
#[tokio::test]
async fn opaque_tokens_are_introspected_and_cached_across_invocations() {
    use mcp_authz_lambda::{ClientAuthentication, IntrospectionMode};
    use mcp_authz_testkit::as_double::{AsDouble, INTROSPECTION_CLIENT};
    let double = AsDouble::start().await;
    let authz = LambdaAuthz::builder()
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .scopes(ScopePolicy::new(["mcp:tools"]))
        .introspection(IntrospectionMode::NonJwt)
        .introspection_client(ClientAuthentication::ClientSecretPost {
            client_id: INTROSPECTION_CLIENT.0.into(),
            client_secret: INTROSPECTION_CLIENT.1.into(),
        })
        .build()
        .await
        .unwrap();
    let mut svc = authz.wrap(tower::service_fn(boxed_handler as fn(_) -> _));
    let resource = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/mcp";
    let token = double.opaque_token(resource, "mcp:tools");
    let mut event = rest("/mcp");
    set_header(&mut event, "authorization", &format!("Bearer {token}"));
    // client_secret_post: the double wants Basic, so it refuses us: 503, never 401 or 200.
    assert_eq!(call_service(&mut svc, &event).await.0, 503);
    // With Basic, as the double expects.
    let authz = LambdaAuthz::builder()
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .scopes(ScopePolicy::new(["mcp:tools"]))
        .introspection(IntrospectionMode::NonJwt)
        .introspection_client(ClientAuthentication::ClientSecretBasic {
            client_id: INTROSPECTION_CLIENT.0.into(),
            client_secret: INTROSPECTION_CLIENT.1.into(),
        })
        .build()
        .await
        .unwrap();
    let mut svc = authz.wrap(tower::service_fn(boxed_handler as fn(_) -> _));
    let calls_before = double.introspections();
    for _ in 0..3 {
        let (status, _, body) = call_service(&mut svc, &event).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(double.introspections(), calls_before + 1);
    assert_eq!(authz.introspection_stats(), Some((1, 2)));
}

/// A path that is no URI path (a space, from an event a front door built) is refused with 400
/// before the guard or the handler sees anything: the guard judges public paths as URI paths.
#[tokio::test]
async fn a_path_that_is_no_uri_path_is_400() {
    let mut rig = rig(|b| b).await;
    let mut e = v2("lambda_function_url_request.json", "/mcp x");
    e["requestContext"]["http"]["path"] = json!("/mcp x");
    let token = rig
        .auth
        .mint(
            "c",
            "mcp:tools",
            "https://id.lambda-url.eu-west-2.on.aws/mcp",
        )
        .unwrap();
    set_header(&mut e, "authorization", &format!("Bearer {token}"));
    let (status, _, body) = call(&mut rig, &e).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert_eq!(
        body["error_description"],
        "the request path is not a URI path"
    );
}

/// An MCP server of revision 2026-07-28 behind the adapter: `tools/list` declares `deploy`'s
/// `env` argument as `Mcp-Param-Env`; `tools/call` answers "ran" (it checks no header itself).
async fn declaring_server(req: http::Request<Body>) -> Result<http::Response<String>, Infallible> {
    let body: Value = serde_json::from_slice(req.body().as_ref()).unwrap_or(Value::Null);
    let result = match body["method"].as_str() {
        Some("tools/list") => json!({"tools": [{"name": "deploy", "inputSchema": {"type": "object",
            "properties": {"env": {"type": "string", "x-mcp-header": "Env"}}}}]}),
        _ => json!({"content": [{"type": "text", "text": "ran"}]}),
    };
    let answer = json!({"jsonrpc": "2.0", "id": body["id"], "result": result});
    let mut resp = http::Response::new(answer.to_string());
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    Ok(resp)
}

fn boxed_declaring_server(
    req: http::Request<Body>,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<http::Response<String>, Infallible>> + Send>,
> {
    Box::pin(declaring_server(req))
}

/// `Mcp-Param-*` headers on Lambda: once a `tools/list` answer declared them (learned across
/// invocations of the environment, the answer passed unchanged), a `tools/call` must carry them
/// matching its arguments (400, -32020 otherwise).
#[tokio::test]
async fn mcp_param_headers_follow_the_declarations_of_the_list_answers() {
    let rig = rig(|b| b.validate_mcp_headers(true)).await;
    let mut svc = rig
        .authz
        .wrap(tower::service_fn(boxed_declaring_server as fn(_) -> _));
    let event = |method: &str, env: Option<&str>, body: Value| {
        let mut e = signed_in_at(&rig, "mcp.example.com");
        e["body"] = json!(body.to_string());
        set_header(&mut e, "mcp-protocol-version", "2026-07-28");
        set_header(&mut e, "mcp-method", method);
        if method == "tools/call" {
            set_header(&mut e, "mcp-name", "deploy");
        }
        if let Some(env) = env {
            set_header(&mut e, "mcp-param-env", env);
        }
        e
    };
    let deploy = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
        "params": {"name": "deploy", "arguments": {"env": "staging"}}});
    // Nothing learned yet: not checked.
    let e = event("tools/call", Some("prod"), deploy.clone());
    assert_eq!(call_service(&mut svc, &e).await.0, 200);
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let (status, _, answer) = call_service(&mut svc, &event("tools/list", None, list)).await;
    assert_eq!(status, 200);
    assert_eq!(answer["result"]["tools"][0]["name"], "deploy");
    for (env, want) in [(Some("prod"), 400), (None, 400), (Some("staging"), 200)] {
        let e = event("tools/call", env, deploy.clone());
        let (status, _, body) = call_service(&mut svc, &e).await;
        assert_eq!(status, want, "{env:?}: {body}");
        if want == 400 {
            assert_eq!(body["error"]["code"], -32020);
        }
    }
}

/// A lazy start on Lambda: the init phase succeeds while the authorization server is down (a
/// request with a token gets 503 + Retry-After, one without the 401 challenge, and the handler
/// runs for neither); once it answers, the function verifies tokens.
#[tokio::test]
async fn a_lazy_cold_start_survives_an_authorization_server_that_is_down() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let issuer = format!("http://127.0.0.1:{port}");
    let authz = LambdaAuthz::builder()
        .metadata_url(format!("{issuer}/.well-known/oauth-authorization-server"))
        .allow_http_loopback(true)
        .scopes(ScopePolicy::new(["mcp:tools"]))
        .lazy_start(true)
        .build()
        .await
        .unwrap();
    let mut svc = authz.wrap(tower::service_fn(boxed_handler as fn(_) -> _));
    let auth =
        DevAuthServer::new(issuer.clone(), "unused".into(), vec!["mcp:tools".into()]).unwrap();
    let domain = "mcp.example.com";
    let mut event = v2("apigw_v2_proxy_request.json", "/mcp");
    event["requestContext"]["domainName"] = json!(domain);
    set_header(&mut event, "host", domain);
    let (status, headers, _) = call_service(&mut svc, &event).await;
    assert_eq!(status, 401);
    assert!(headers.contains_key("www-authenticate"));
    let token = auth
        .mint("lambda-test", "mcp:tools", &format!("https://{domain}/mcp"))
        .unwrap();
    set_header(&mut event, "authorization", &format!("Bearer {token}"));
    let (status, headers, body) = call_service(&mut svc, &event).await;
    assert_eq!(status, 503, "{body}");
    assert!(headers.contains_key("retry-after"));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let router = auth.router();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, _, body) = call_service(&mut svc, &event).await;
        if status == 200 {
            assert!(body["subject"].is_string(), "{body}");
            break;
        }
        assert_eq!(status, 503, "{body}");
        assert!(std::time::Instant::now() < deadline, "never verified");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A Lambda tool gets a token of a downstream API for its caller with one call
/// (`DownstreamTokens` in the request's extensions), exchanged once at the authorization server
/// (RFC 8693, the test kit's double) however many invocations follow; the caller's own token
/// is not what it gets.
#[tokio::test]
async fn a_lambda_tool_exchanges_the_callers_token_for_a_downstream_one() {
    use mcp_authz_lambda::{
        ClientAuthentication, DownstreamTokens, ExchangeClient, ExchangeProfile,
    };
    use mcp_authz_testkit::as_double::{AsDouble, EXCHANGE_CLIENT};
    let double = AsDouble::start().await;
    let client = ExchangeClient::Secret(ClientAuthentication::ClientSecretBasic {
        client_id: EXCHANGE_CLIENT.0.into(),
        client_secret: EXCHANGE_CLIENT.1.into(),
    });
    let authz = LambdaAuthz::builder()
        .metadata_url(double.metadata_url())
        .allow_http_loopback(true)
        .scopes(ScopePolicy::new(["mcp:tools"]))
        .token_exchange(ExchangeProfile::TokenExchange, client)
        .build()
        .await
        .unwrap();
    let tool = tower::service_fn(|req: http::Request<Body>| async move {
        let out = match req.extensions().get::<DownstreamTokens>() {
            Some(tokens) => match tokens.exchange_token("https://api.example.com").await {
                Ok(t) => json!({"token": t.access_token()}),
                Err(e) => json!({"error": e.reason()}),
            },
            None => json!({"error": "no DownstreamTokens"}),
        };
        Ok::<_, Infallible>(http::Response::new(out.to_string()))
    });
    let mut svc = authz.wrap(tool);
    let resource = "https://id.execute-api.us-east-1.amazonaws.com/mcp";
    let token = double.token(resource, "mcp:tools");
    let mut e = v2("apigw_v2_proxy_request.json", "/mcp");
    e["body"] = json!("{}");
    set_header(&mut e, "authorization", &format!("Bearer {token}"));
    let mut issued = Vec::new();
    for _ in 0..3 {
        let (status, _, body) = call_service(&mut svc, &e).await;
        assert_eq!(status, 200, "{body}");
        issued.push(body["token"].as_str().unwrap().to_owned());
    }
    assert_eq!(double.exchanges(), 1);
    assert!(issued.iter().all(|t| t == &issued[0] && t != &token));
    let claims: Value = serde_json::from_slice(
        &<base64ct::Base64UrlUnpadded as base64ct::Encoding>::decode_vec(
            issued[0].split('.').nth(1).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["aud"], "https://api.example.com");
    assert_eq!(claims["sub"], "alice");
}
