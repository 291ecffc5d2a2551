#!/usr/bin/env bash
# TLS on 127.0.0.1: full handshakes per second (`openssl s_time -new`, one connection at a time,
# no session reuse) of `mcp-authz proxy --tls-cert/--tls-key` and of nginx with the same
# certificate (P-256 ECDSA), ROUNDS rounds of DURATION seconds, the ratio taken within each round;
# then each under wrk load (HTTPS keep-alive, GET /healthz resp. a 200 location) across a
# certificate reload (SIGHUP; `nginx -s reload`), counting the requests that failed. Measurement
# only, never CI: it installs wrk, nginx-light and openssl (Debian) when they are absent.
#
#   bash benches/http/tls.sh [DURATION_SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-5}
rounds=${2:-3}
if ! command -v wrk >/dev/null || ! command -v openssl >/dev/null || { ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; }; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light openssl) >/dev/null
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release -q -p mcp-authz-cli --bin mcp-authz
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null

proxy_port=$(free_port)
# The authorization server is not needed for TLS and /healthz: the proxy starts without it.
./target/release/mcp-authz proxy --metadata-url "http://127.0.0.1:1/.well-known/oauth-authorization-server" \
  --resource "https://localhost:$proxy_port/mcp" --upstream http://127.0.0.1:1/mcp \
  --listen "127.0.0.1:$proxy_port" --allow-http-loopback \
  --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" > "$work/proxy.log" 2>&1 &
proxy_pid=$!
pids+=("$proxy_pid")

nginx_port=$(free_port)
cat > "$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$nginx_port ssl http2;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / { return 200 '{"status":"ok"}'; }
  }
}
EOF
"$nginx_bin" -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
for port in "$proxy_port" "$nginx_port"; do
  for _ in $(seq 100); do
    [ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$port/healthz" || true)" = 200 ] && break
    sleep 0.1
  done
done

handshakes() { # port -> full handshakes per second
  openssl s_time -connect "127.0.0.1:$1" -new -time "$duration" 2>/dev/null \
    | awk '/connections in .* real seconds/ { printf "%.0f", $1 / $4 }'
}
echo "full TLS handshakes per second (openssl s_time -new, ${duration} s):"
ratios=()
for r in $(seq "$rounds"); do
  p=$(handshakes "$proxy_port"); n=$(handshakes "$nginx_port")
  ratio=$(python3 -c "print(f'{$p/$n:.2f}')")
  ratios+=("$ratio")
  echo "  round $r: proxy $p/s, nginx $n/s, proxy/nginx $ratio"
done
echo "  median proxy/nginx: $(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")"

reload_under_load() { # name url reload-command
  wrk -t2 -c32 -d6s "$2" > "$work/wrk-$1.txt" 2>&1 &
  local wrk_pid=$!
  sleep 3
  eval "$3"
  wait "$wrk_pid"
  local total errors non2xx
  total=$(awk '/requests in/ {print $1}' "$work/wrk-$1.txt")
  errors=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/wrk-$1.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk-$1.txt")
  echo "  $1: $total requests, socket errors ${errors:-0}, non-2xx ${non2xx:-0}"
}
echo "a certificate reload under load (wrk -c32, 6 s, reload at 3 s):"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost -keyout "$work/key2.pem" -out "$work/cert2.pem" 2>/dev/null
reload_under_load proxy "https://127.0.0.1:$proxy_port/healthz" \
  "cp $work/key2.pem $work/key.pem && cp $work/cert2.pem $work/cert.pem && kill -HUP $proxy_pid"
reload_under_load nginx "https://127.0.0.1:$nginx_port/healthz" \
  "$nginx_bin -c $work/nginx.conf -s reload"
