#!/usr/bin/env bash
# Latency at a fixed rate, and CPU per request, on 127.0.0.1: oha sends RATE requests per second
# (POST tools/call whoami, 32 connections, coordinated-omission corrected) for DURATION seconds
# to each target in turn, ROUNDS times: the unprotected rmcp server, the same behind the layer
# (cache hit, per-tool scopes on), `mcp-authz proxy` in front of the unprotected one (cache hit,
# per-tool scopes on) with one thread per CPU and with `--workers 1`, and nginx as a plain
# reverse proxy of the same upstream (NGINX_WORKERS worker processes, default 1; no auth).
# Prints p50 and p99 per target (median and range of the rounds) and, for the two proxies and
# nginx, the CPU time the process used per request (utime + stime over the run): at a fixed
# rate this is what each costs, whatever else shares the machine.
#
# Measurement only, never CI. Needs oha (`cargo install oha`; OHA=path) and nginx-light and wrk
# as `run.sh` installs them.
#
#   bash benches/http/latency.sh [RATE] [DURATION_SECONDS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rate=${1:-3000}
duration=${2:-15}
rounds=${3:-3}
workers=${NGINX_WORKERS:-1}
oha=${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}
[ -x "$oha" ] || { echo "oha not found: cargo install oha, or OHA=path" >&2; exit 2; }
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light) >/dev/null
fi
cargo build --release -q -p mcp-authz-benches --bin http_target
cargo build --release -q -p mcp-authz-cli --bin mcp-authz
. benches/http/lib.sh
start_target

declare -A url token cpu_pid
url[unprotected]=$upstream
url[layer]=$(get protected_cache); token[layer]=$(get token_cache)

# Two proxies for the same resource (the tokens' audience), on two listeners.
start_proxy() { # name listen extra-args...
  local name=$1 listen=$2; shift 2
  ./target/release/mcp-authz proxy --metadata-url "$(get metadata)" --resource "$(get proxy)" \
    --upstream "$upstream" --listen "$listen" --scope mcp:tools \
    --tool-scope admin_reset=mcp:admin --allow-http-loopback "$@" > "$work/$name.log" 2>&1 &
  pids+=($!)
  cpu_pid[$name]=$!
  url[$name]="http://$listen/mcp"; token[$name]=$(get token_proxy)
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$listen/readyz" || true)" = 200 ] && break
    sleep 0.1
  done
}
start_proxy proxy "$(get proxy_listen)"
start_proxy proxy_workers1 "127.0.0.1:$(free_port)" --workers 1

start_nginx "$workers"
url[nginx]=$nginx_url
sleep 0.5

# CPU ticks (utime + stime) of a process and its children (nginx's workers).
ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}
cpu_pid[nginx]=$(cat "$nginx_pid_file")
hz=$(getconf CLK_TCK)
body='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
results="$work/results"
for round in $(seq "$rounds"); do
  for target in unprotected layer proxy proxy_workers1 nginx; do
    auth=()
    [ -n "${token[$target]:-}" ] && auth=(-H "authorization: Bearer ${token[$target]}")
    before=0
    [ -n "${cpu_pid[$target]:-}" ] && before=$(ticks "${cpu_pid[$target]}")
    "$oha" --no-tui --output-format json -q "$rate" -z "${duration}s" -c 32 --latency-correction \
      -m POST -T application/json -H 'accept: application/json, text/event-stream' \
      -H 'mcp-protocol-version: 2025-06-18' "${auth[@]}" -d "$body" "${url[$target]}" \
      > "$work/oha.json"
    after=0
    [ -n "${cpu_pid[$target]:-}" ] && after=$(ticks "${cpu_pid[$target]}")
    python3 - "$work/oha.json" "$round" "$target" "$((after - before))" "$hz" >> "$results" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
codes = doc.get("statusCodeDistribution", {})
ok = int(codes.get("200", 0))
other = sum(int(v) for k, v in codes.items() if k != "200")
p = doc["latencyPercentiles"]
ticks, hz = int(sys.argv[4]), int(sys.argv[5])
cpu_us = ticks / hz * 1e6 / ok if ok and ticks else 0
print(sys.argv[2], sys.argv[3], f"{p['p50'] * 1e3:.3f}", f"{p['p99'] * 1e3:.3f}", ok, other, f"{cpu_us:.1f}")
PY
    tail -n1 "$results" | awk '{printf "round %s %-15s p50 %s ms  p99 %s ms  200s %s  other %s  cpu/request %s us\n", $1, $2, $3, $4, $5, $6, $7}'
  done
done
python3 - "$results" "$rate" "$workers" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, name, p50, p99, ok, other, cpu = line.split()
    rows.setdefault(name, []).append((float(p50), float(p99), int(other), float(cpu)))
print(f"at {sys.argv[2]} req/s, nginx with {sys.argv[3]} worker(s); median (min-max) of {len(next(iter(rows.values())))} rounds")
for name, r in rows.items():
    col = lambda i: [x[i] for x in r]
    fmt = lambda xs, f: f"{f(statistics.median(xs))} ({f(min(xs))}-{f(max(xs))})"
    ms = lambda x: f"{x:.2f}"
    line = f"{name}: p50 {fmt(col(0), ms)} ms, p99 {fmt(col(1), ms)} ms"
    if any(col(3)):
        line += f", cpu/request {fmt(col(3), lambda x: f'{x:.1f}')} us"
    if sum(col(2)):
        line += f"  WARNING: {sum(col(2))} answers other than 200"
    print(line)
PY
