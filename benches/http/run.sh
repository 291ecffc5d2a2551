#!/usr/bin/env bash
# HTTP load on 127.0.0.1 with wrk: the two-tool rmcp server unprotected, protected with the
# verified-token cache, protected without it (a signature per request), and two reverse proxies
# in front of the unprotected one, each a process of its own: `mcp-authz proxy` (verifying the
# token, cache hit) and nginx (a plain reverse proxy: no auth, upstream keepalive).
#
# The targets run in turn, ROUNDS times; ratios are taken within each round (the machine's speed
# drifts between rounds as much as the difference being measured), printed per round and as the
# median. Then `mcp-authz proxy` takes 30 s more at CONNECTIONS connections and its peak RSS
# (VmHWM) is printed. Measurement only, never CI: it installs wrk and nginx-light (Debian) when
# they are absent.
#
#   bash benches/http/run.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]
#   NGINX_WORKERS=2 bash benches/http/run.sh ...   # nginx worker processes (default 1)
#   PROXY_ARGS="..." bash benches/http/run.sh ...  # extra `mcp-authz proxy` flags
#   PINGORA=1 bash benches/http/run.sh ...          # also the Pingora prototype of the proxy
#                                                    # (benches/engine/pingora; needs cmake)
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-6}
conns=${2:-64}
rounds=${3:-3}
workers=${NGINX_WORKERS:-1}
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light) >/dev/null
fi
cargo build --release -q -p mcp-authz-benches --bin http_target
cargo build --release -q -p mcp-authz-cli --bin mcp-authz
targets="unprotected protected_cache protected_nocache proxy nginx"
if [ -n "${PINGORA:-}" ]; then
  command -v cmake >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cmake) >/dev/null
  cargo build --release -q --locked --manifest-path benches/engine/pingora/Cargo.toml
  targets="$targets pingora"
fi
. benches/http/lib.sh
start_target

# mcp-authz proxy, as an operator runs it.
# shellcheck disable=SC2086
./target/release/mcp-authz proxy --metadata-url "$(get metadata)" --resource "$(get proxy)" \
  --upstream "$upstream" --listen "$(get proxy_listen)" --scope mcp:tools \
  --tool-scope admin_reset=mcp:admin --allow-http-loopback ${PROXY_ARGS:-} \
  > "$work/proxy.log" 2>&1 &
proxy_pid=$!
pids+=("$proxy_pid")

start_nginx "$workers"

# The Pingora prototype: the same forward path on Pingora, in front of the same upstream. Its
# authorization is a placeholder (a Bearer prefix), so its figure is an upper bound.
pingora_url=""
if [ -n "${PINGORA:-}" ]; then
  pingora_port=$(free_port)
  benches/engine/pingora/target/release/pingora-proto --listen "127.0.0.1:$pingora_port" \
    --upstream "$upstream" > "$work/pingora.log" 2>&1 &
  pids+=($!)
  pingora_url="http://127.0.0.1:$pingora_port/mcp"
fi

# Both proxies answer before the first round; ours once it has its keys (it listens at once).
proxy_origin=$(get proxy); proxy_origin=${proxy_origin%/mcp}
for _ in $(seq 100); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$proxy_origin/readyz" || true)" = 200 ] && break
  sleep 0.1
done
for url in "$(get proxy)" "$nginx_url" $pingora_url; do
  for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url" -H 'content-type: application/json' -d '{}' || true)
    [ "$code" != "000" ] && break
    sleep 0.1
  done
done

run() { # name url token seconds
  local r
  r=$(TOKEN="$3" wrk -t2 -c"$conns" -d"${4}s" --latency -s benches/http/whoami.lua "$2" | grep '^RESULT')
  echo "$1 $r"
}
results="$work/results"
for round in $(seq "$rounds"); do
  for target in $targets; do
    token="" url=""
    case $target in
      unprotected) url=$(get unprotected) ;;
      protected_cache) url=$(get protected_cache) token=$(get token_cache) ;;
      protected_nocache) url=$(get protected_nocache) token=$(get token_nocache) ;;
      proxy) url=$(get proxy) token=$(get token_proxy) ;;
      nginx) url=$nginx_url ;;
      pingora) url=$pingora_url token=$(get token_proxy) ;;
    esac
    line_out=$(run "$target" "$url" "$token" "$duration")
    echo "round $round: $line_out"
    echo "$round $line_out" >> "$results"
  done
done
python3 - "$results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, name, rest = line.split(" ", 2)
    fields = dict(kv.split("=") for kv in rest.split()[1:])
    if int(fields["non2xx"]) or int(fields["errors"]):
        print(f"WARNING: round {rnd} {name}: non2xx={fields['non2xx']} errors={fields['errors']}")
    rows.setdefault(int(rnd), {})[name] = (float(fields["rps"]), int(fields["p99_us"]))
def report(label, num, den, goal, what=0):
    ratios = [r[num][what] / r[den][what] for r in rows.values()]
    each = ", ".join(f"{x:.3f}" for x in ratios)
    print(f"{label} = {statistics.median(ratios):.3f} (goal {goal}; median of {len(ratios)}: {each})")
names = [n for n in ["unprotected", "protected_cache", "protected_nocache", "proxy", "nginx", "pingora"] if all(n in r for r in rows.values())]
for name in names:
    rps = statistics.median(r[name][0] for r in rows.values())
    p99 = statistics.median(r[name][1] for r in rows.values())
    print(f"{name}: median {rps:.0f} req/s, p99 {p99} us")
report("req/s protected(cache)/unprotected", "protected_cache", "unprotected", "≥ 0.95")
report("req/s protected(no cache)/unprotected", "protected_nocache", "unprotected", "none")
report("req/s mcp-authz proxy/nginx", "proxy", "nginx", "≥ 0.95")
report("p99 protected(cache)/unprotected", "protected_cache", "unprotected", "≤ 1.2", 1)
report("p99 mcp-authz proxy/nginx", "proxy", "nginx", "none", 1)
if "pingora" in names:
    report("req/s pingora prototype/nginx", "pingora", "nginx", "none")
    report("req/s pingora prototype/mcp-authz proxy", "pingora", "proxy", "none")
    report("p99 pingora prototype/nginx", "pingora", "nginx", "none", 1)
PY
# Memory: the proxy alone under load for 30 s more, then its peak resident set.
run memory "$(get proxy)" "$(get token_proxy)" 30 > /dev/null
echo "peak RSS (VmHWM) of mcp-authz proxy after 30 s more at $conns connections: $(grep VmHWM /proc/"$proxy_pid"/status | awk '{print $2, $3}') (goal ≤ 25 MB)"
echo "peak RSS (VmHWM) of the nginx worker(s): $(for p in $(pgrep -P "$(cat "$nginx_pid_file")"); do grep VmHWM /proc/"$p"/status | awk '{print $2, $3}'; done | tr '\n' ' ')"
