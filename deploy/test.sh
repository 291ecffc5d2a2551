#!/usr/bin/env bash
# The deployment files, used: the container image (deploy/Containerfile) is built with podman
# from the static musl binary; the sandbox refuses to run containers, so its root filesystem is
# exported and the binary run from it with chroot, as the image's unprivileged user. In that
# root: the development authorization server, and the proxy started with the systemd unit's
# ExecStart (deploy/mcp-authz-proxy.service) on the configuration of the Kubernetes example
# (deploy/kubernetes.yaml, its ConfigMap), TLS included; the Deployment's probes (/healthz,
# /readyz) and the unit's ExecReload are exercised with curl. Prints the binary's and the
# image's sizes.
#
#   bash deploy/test.sh        (as root; installs podman, musl-tools, curl, openssl if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null || missing+=("$2"); }
missing=()
need podman podman; need musl-gcc musl-tools; need curl curl; need openssl openssl
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
rustup target list --installed | grep -q x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl

CC_x86_64_unknown_linux_musl=musl-gcc cargo build --release --locked -p mcp-authz-cli \
  --target x86_64-unknown-linux-musl
bin=target/x86_64-unknown-linux-musl/release/mcp-authz
if ldd "$bin" 2>&1 | grep -q "=>"; then echo "not a static binary:"; ldd "$bin"; exit 1; fi

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  podman rm -f mcp-authz-ci >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/ctx"
# The release profile keeps debug info for profiling; the image does not need it.
strip -o "$work/ctx/mcp-authz" "$bin"
podman build -q -f deploy/Containerfile -t localhost/mcp-authz:ci "$work/ctx" >/dev/null
image_bytes=$(podman image inspect localhost/mcp-authz:ci --format '{{.Size}}')
podman create --name mcp-authz-ci localhost/mcp-authz:ci >/dev/null
mkdir -p "$work/root"
podman export mcp-authz-ci | tar -x -C "$work/root"
user=$(podman image inspect localhost/mcp-authz:ci --format '{{.Config.User}}')
[ "$user" = "65532:65532" ] || { echo "the image runs as '$user', not 65532:65532"; exit 1; }
# Nothing in the image but the binary (and the empty mount points podman adds).
extra=$(cd "$work/root" && find . -type f ! -path ./mcp-authz | grep -v -E '^\./(etc/(hosts|resolv\.conf|hostname)|run/.*)$' || true)
[ -z "$extra" ] || { echo "unexpected files in the image: $extra"; exit 1; }
run() { chroot --userspec=65532:65532 "$work/root" /mcp-authz "$@"; }
# In the background, as one process (exec): its pid is the binary's, so the cleanup stops it.
run_bg() { exec chroot --userspec=65532:65532 "$work/root" /mcp-authz "$@"; }
run --version

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
resource="https://localhost:$port/mcp"
# The development authorization server, from the image.
(run_bg dev-authorization-server --resource "$resource") > "$work/as.out" 2>/dev/null &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/as.out" ] && break; sleep 0.1; done
issuer=$(head -1 "$work/as.out")

# The Kubernetes ConfigMap's proxy.toml, pointed at this host: the issuer, a free port, TLS
# files made here.
mkdir -p "$work/root/etc/mcp-authz/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$work/root/etc/mcp-authz/tls/tls.key" \
  -out "$work/root/etc/mcp-authz/tls/tls.crt" 2>/dev/null
chmod 0644 "$work/root/etc/mcp-authz/tls/tls.key"
python3 - "$work/root/etc/mcp-authz/proxy.toml" "$issuer" "$port" "$resource" <<'PY'
import re, sys
out, issuer, port, resource = sys.argv[1:]
lines = open("deploy/kubernetes.yaml").read().splitlines()
start = next(i for i, l in enumerate(lines) if l.strip() == "proxy.toml: |") + 1
block = []
for l in lines[start:]:
    if not l.startswith("    "):
        break
    block.append(l[4:])
toml = "\n".join(block) + "\n"
toml = re.sub(r'metadata-url = ".*"', f'metadata-url = "{issuer}/.well-known/oauth-authorization-server"', toml)
toml = re.sub(r'listen = ".*"', f'listen = "127.0.0.1:{port}"', toml)
toml = re.sub(r'resource = ".*"', f'resource = "{resource}"', toml)
toml += "allow-http-loopback = true\n"
open(out, "w").write(toml)
PY

# The systemd unit's ExecStart, inside the image's root.
exec_start=$(sed -n 's/^ExecStart=//p' deploy/mcp-authz-proxy.service)
read -r -a argv <<< "${exec_start/\/usr\/local\/bin\/mcp-authz/\/mcp-authz}"
read -r -a unit_env <<< "$(sed -n 's/^Environment=//p' deploy/mcp-authz-proxy.service | tr '\n' ' ')"
env "${unit_env[@]}" chroot --userspec=65532:65532 "$work/root" "${argv[@]}" > /dev/null 2> "$work/proxy.err" &
proxy_pid=$!
pids+=("$proxy_pid")
curlk() { curl -sk --resolve "localhost:$port:127.0.0.1" -o /dev/null -w '%{http_code}' "$@"; }
for _ in $(seq 100); do [ "$(curlk "https://localhost:$port/healthz" || true)" = 200 ] && break; sleep 0.1; done
# The Deployment's probes.
[ "$(curlk "https://localhost:$port/healthz")" = 200 ] || { cat "$work/proxy.err"; exit 1; }
for _ in $(seq 100); do [ "$(curlk "https://localhost:$port/readyz")" = 200 ] && break; sleep 0.1; done
[ "$(curlk "https://localhost:$port/readyz")" = 200 ] || { curl -sk --resolve "localhost:$port:127.0.0.1" "https://localhost:$port/readyz"; exit 1; }
[ "$(curlk "https://localhost:$port/.well-known/oauth-protected-resource/mcp")" = 200 ]
[ "$(curlk -X POST "$resource")" = 401 ]
# The unit's ExecReload: the configuration is read again, and the proxy keeps serving.
exec_reload=$(sed -n 's/^ExecReload=//p' deploy/mcp-authz-proxy.service)
${exec_reload/\$MAINPID/$proxy_pid}
sleep 1
kill -0 "$proxy_pid"
[ "$(curlk "https://localhost:$port/readyz")" = 200 ]
grep -q "configuration reloaded" "$work/proxy.err" || { echo "no reload in the log:"; cat "$work/proxy.err"; exit 1; }

echo "deploy: image localhost/mcp-authz:ci runs as 65532; binary $(stat -c %s "$work/ctx/mcp-authz") bytes (static, musl, stripped), image ${image_bytes} bytes; the Kubernetes example's configuration and probes, and the systemd unit's ExecStart and ExecReload, work from it"
