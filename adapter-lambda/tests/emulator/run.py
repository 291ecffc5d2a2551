#!/usr/bin/env python3
"""End-to-end test of the example function (adapter-lambda/examples/lambda-mcp-function) under the
Runtime-API emulator of cargo-lambda, plus a cold-start measurement.

1. Starts the development authorization server (`mcp-authz dev-authorization-server`) on
   127.0.0.1, issuing tokens for the function's public URL under the emulator.
2. Starts `cargo lambda watch` on that function (it builds and runs it on demand and
   turns HTTP requests into Function-URL events), then sends real HTTP requests: the 401
   challenge, both well-known documents, a full OAuth flow (registration, PKCE S256, code, token),
   tools/call of `whoami` (200, the tool sees the principal), `admin_reset` (403 with the scope).
3. `cargo lambda invoke --data-file` with an API Gateway REST event: the 401 challenge.
4. Cold start: runs the built function against a minimal Runtime API (Python, stdlib) and
   measures process start -> first `GET /invocation/next` (keys already fetched), five times.

Needs: `pip install cargo-lambda==1.9.2`, Python 3.11. Everything on 127.0.0.1; every process it
starts is stopped by PID. Exit 0 when every check passes; prints `N passed, 0 failed`.
"""
import base64
import hashlib
import http.server
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
CLI = os.path.join(TARGET, "debug", "mcp-authz")
EXAMPLE = os.path.join(TARGET, "debug", "lambda_mcp")
FUNCTION_MANIFEST = os.path.join(ROOT, "adapter-lambda", "examples", "lambda-mcp-function", "Cargo.toml")
FIXTURE = os.path.join(ROOT, "adapter-lambda", "tests", "fixtures", "example-apigw-request.json")

procs = []
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(f"{'PASS' if ok else 'FAIL'}: {name}" + (f" ({detail})" if detail and not ok else ""), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd, **kw):
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    procs.append(p)
    return p


def stop_all():
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def request(method, url, headers=None, body=None, timeout=120):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **k):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def wait_until(fn, seconds, what, proc=None, log=None):
    """Polls `fn` until it holds; gives up when `proc` exits or the time is up, printing `log`'s tail."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if fn():
                return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.5)
    if log:
        with open(log, errors="replace") as f:
            print("".join(f.readlines()[-60:]), file=sys.stderr)
    exited = proc is not None and proc.poll() is not None
    raise SystemExit(f"{'the process exited' if exited else 'timed out'} waiting for {what}")


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def oauth_token(issuer, resource, scope):
    """The authorization-code flow with PKCE, as an MCP client runs it."""
    status, _, body = request("POST", f"{issuer}/register", {"content-type": "application/json"},
                              json.dumps({"redirect_uris": ["http://127.0.0.1:1/cb"], "token_endpoint_auth_method": "none"}).encode())
    assert status == 201, status
    client_id = json.loads(body)["client_id"]
    verifier = b64u(secrets.token_bytes(32))
    challenge = b64u(hashlib.sha256(verifier.encode()).digest())
    q = urllib.parse.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": "http://127.0.0.1:1/cb",
                                "code_challenge": challenge, "code_challenge_method": "S256", "scope": scope,
                                "state": "s", "resource": resource})
    status, headers, _ = request("GET", f"{issuer}/authorize?{q}")
    assert status == 302, status
    code = urllib.parse.parse_qs(urllib.parse.urlparse(headers["location"]).query)["code"][0]
    form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": "http://127.0.0.1:1/cb",
                                   "client_id": client_id, "code_verifier": verifier, "resource": resource}).encode()
    status, _, body = request("POST", f"{issuer}/token", {"content-type": "application/x-www-form-urlencoded"}, form)
    assert status == 200, (status, body)
    return json.loads(body)["access_token"]


def rpc(url, token, tool, timeout=120):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {}}}).encode()
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "mcp-protocol-version": "2025-06-18"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return request("POST", url, headers, body, timeout)


def emulator_checks():
    port = free_port()
    base = f"http://127.0.0.1:{port}/lambda-url/lambda_mcp"
    resource = f"{base}/mcp"
    auth = start([CLI, "dev-authorization-server", "--resource", resource], stdout=subprocess.PIPE, text=True)
    issuer = auth.stdout.readline().strip()
    check("dev authorization server started", issuer.startswith("http://127.0.0.1:"), issuer)
    env_vars = ",".join([
        f"MCP_AUTHZ_METADATA_URL={issuer}/.well-known/oauth-authorization-server",
        "MCP_AUTHZ_ALLOW_HTTP_LOOPBACK=1",
        f"MCP_AUTHZ_PUBLIC_BASE_URL={base}",
        "RUST_LOG=warn",
    ])
    # Build the function exactly as the watcher's `cargo run` will (alone, so with its own
    # feature set), so that the first request does not wait on a build inside the emulator.
    subprocess.run(["cargo", "build", "--locked", "--manifest-path", FUNCTION_MANIFEST, "--bin", "lambda_mcp"],
                   cwd=ROOT, check=True)
    # The watcher's output goes to a log under target/, printed if the function never answers.
    watch_log = os.path.join(TARGET, "lambda-watch.log")
    with open(watch_log, "w") as log:
        watch = start(["cargo", "lambda", "watch", "--manifest-path", FUNCTION_MANIFEST,
                       "--invoke-address", "127.0.0.1", "--invoke-port", str(port), "--env-var", env_vars],
                      cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    # The first request builds and starts the function: allow for the build.
    wait_until(lambda: rpc(resource, None, "whoami", timeout=30)[0] == 401, 300, "the emulator to serve the function",
               proc=watch, log=watch_log)

    status, headers, body = rpc(resource, None, "whoami")
    www = {k.lower(): v for k, v in headers.items()}.get("www-authenticate", "")
    check("no token: 401 with the discovery challenge", status == 401 and
          www == f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/lambda-url/lambda_mcp/mcp", scope="mcp:tools"',
          f"{status} {www}")
    for path in ["/.well-known/oauth-protected-resource/lambda-url/lambda_mcp/mcp", "/.well-known/oauth-protected-resource"]:
        status, _, body = request("GET", f"{base}{path}")
        doc = json.loads(body or b"{}")
        check(f"well-known {path}: the document", status == 200 and doc.get("resource") == resource
              and doc.get("authorization_servers") == [issuer], f"{status} {body[:200]}")
    token = oauth_token(issuer, resource, "mcp:tools")
    status, _, body = rpc(resource, token, "whoami")
    text = json.loads(body or b"{}").get("result", {}).get("content", [{}])[0].get("text", "")
    check("valid token: whoami sees the principal, not the header", status == 200 and
          text.startswith("subject=demo-user") and "authorization_header_seen=false" in text, f"{status} {body[:300]}")
    status, headers, _ = rpc(resource, token, "admin_reset")
    www = {k.lower(): v for k, v in headers.items()}.get("www-authenticate", "")
    check("admin_reset without mcp:admin: 403 naming the scopes", status == 403 and 'scope="mcp:tools mcp:admin"' in www, f"{status} {www}")
    admin = oauth_token(issuer, resource, "mcp:tools mcp:admin")
    status, _, _ = rpc(resource, admin, "admin_reset")
    check("admin_reset with mcp:admin: 200", status == 200, str(status))
    other = oauth_token(issuer, resource, "mcp:tools")
    forged = other[:-4] + ("AAAA" if not other.endswith("AAAA") else "BBBB")
    status, _, _ = rpc(resource, forged, "whoami")
    check("tampered token: 401", status == 401, str(status))

    # A raw API Gateway REST event through `cargo lambda invoke`.
    with open(FIXTURE) as f:
        event = json.load(f)
    event.update({"httpMethod": "POST", "path": "/mcp", "body": "{}", "queryStringParameters": None,
                  "multiValueQueryStringParameters": None, "multiValueHeaders": {},
                  "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "content-type": "application/json"}})
    event["requestContext"].update({"path": "/mcp", "stage": "$default", "domainName": "abc123.execute-api.us-east-1.amazonaws.com"})
    event_file = os.path.join(TARGET, "lambda-rest-event.json")
    with open(event_file, "w") as f:
        json.dump(event, f)
    out = subprocess.run(["cargo", "lambda", "invoke", "--invoke-address", "127.0.0.1", "--invoke-port", str(port),
                          "--data-file", event_file, "lambda_mcp"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    try:
        resp = json.loads(out.stdout)
    except json.JSONDecodeError:
        resp = {}
    headers = {k.lower(): v for k, v in (resp.get("headers") or {}).items()}
    headers.update({k.lower(): v[0] for k, v in (resp.get("multiValueHeaders") or {}).items() if v})
    check("cargo lambda invoke (REST event): 401 with the challenge", resp.get("statusCode") == 401 and
          # The configured public base URL wins over the event's domain.
          headers.get("www-authenticate", "") == f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/lambda-url/lambda_mcp/mcp", scope="mcp:tools"',
          out.stdout[:300] + out.stderr[-300:])
    return issuer


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """Just enough of the Lambda Runtime API to see when the function is ready."""
    first_next = None
    event = b"{}"
    response = None

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.endswith("/invocation/next"):
            if RuntimeApi.first_next is None:
                RuntimeApi.first_next = time.perf_counter()
                body = RuntimeApi.event
                self.send_response(200)
                self.send_header("Lambda-Runtime-Aws-Request-Id", "req-1")
                self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
                self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:lambda_mcp")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                time.sleep(30)
        else:
            self.send_response(404)
            self.end_headers()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        RuntimeApi.response = self.rfile.read(n)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def cold_start(issuer, runs=5):
    with open(FIXTURE) as f:
        event = json.load(f)
    event.update({"httpMethod": "POST", "path": "/mcp", "body": "{}", "multiValueHeaders": {},
                  "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com"}})
    event["requestContext"].update({"path": "/mcp", "stage": "$default", "domainName": "abc123.execute-api.us-east-1.amazonaws.com"})
    RuntimeApi.event = json.dumps(event).encode()
    times = []
    for _ in range(runs):
        RuntimeApi.first_next = None
        RuntimeApi.response = None
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_port}",
                   AWS_LAMBDA_FUNCTION_NAME="lambda_mcp", AWS_LAMBDA_FUNCTION_MEMORY_SIZE="128",
                   AWS_LAMBDA_FUNCTION_VERSION="1", AWS_LAMBDA_LOG_STREAM_NAME="s", AWS_LAMBDA_LOG_GROUP_NAME="g",
                   MCP_AUTHZ_METADATA_URL=f"{issuer}/.well-known/oauth-authorization-server",
                   MCP_AUTHZ_ALLOW_HTTP_LOOPBACK="1", RUST_LOG="warn")
        t0 = time.perf_counter()
        p = start([EXAMPLE], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while RuntimeApi.response is None and time.time() < deadline:
            time.sleep(0.005)
        if RuntimeApi.first_next is not None:
            times.append((RuntimeApi.first_next - t0) * 1000)
        resp = json.loads(RuntimeApi.response or b"{}")
        check("cold start: the first event is answered (401 challenge)", resp.get("statusCode") == 401, str(resp)[:200])
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=10)
        server.shutdown()
    if times:
        print(f"COLD START (process start -> ready for the first event, metadata and keys fetched): "
              f"median {statistics.median(times):.1f} ms, min {min(times):.1f} ms, max {max(times):.1f} ms over {len(times)} runs")


def main():
    try:
        issuer = emulator_checks()
        subprocess.run(["cargo", "build", "-q", "-p", "lambda-mcp-function"], cwd=ROOT, check=True)
        cold_start(issuer)
    finally:
        stop_all()
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
