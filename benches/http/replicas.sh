#!/usr/bin/env bash
# Two proxy replicas behind one "load balancer" (two wrk processes, half the connections each),
# keeping their shared state in this process (memory) or in one Redis (redis), on 127.0.0.1.
# Every request is rate-limited (a limit far above the load, so every request is counted and
# none refused) and names an MCP session (looked up on every request), so the store is asked
# twice per request: the cost of scaling out with shared state. Baseline in the same run: the
# same pair without those (plain). Reports req/s (sum of both wrk) and p99 (the worse of both)
# per configuration, per round and as the median, and the ratios redis/memory and memory/plain.
# Measurement only, never CI: installs wrk and redis-server (Debian) when they are absent.
#
#   bash benches/http/replicas.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-6}
conns=${2:-64}
rounds=${3:-3}
if ! command -v wrk >/dev/null || ! command -v redis-server >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk redis-server) >/dev/null
fi
cargo build --release -q -p mcp-authz-benches --bin http_target
cargo build --release -q -p mcp-authz-cli --bin mcp-authz
. benches/http/lib.sh
start_target

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no > "$work/redis.log" 2>&1 &
pids+=($!)

# Six replicas: two per configuration, all for the same resource (as behind a load balancer).
declare -A ports
start() { # name extra-args...
  local name=$1; shift
  local port
  port=$(free_port)
  ./target/release/mcp-authz proxy --metadata-url "$(get metadata)" --resource "$(get proxy)" \
    --upstream "$(get unprotected)" --listen "127.0.0.1:$port" --scope mcp:tools \
    --allow-http-loopback "$@" > "$work/$name.log" 2>&1 &
  pids+=($!)
  ports[$name]=$port
}
limit=(--rate-limit "1000000/s")
start plain_a; start plain_b
start memory_a "${limit[@]}"; start memory_b "${limit[@]}"
start redis_a "${limit[@]}" --store "redis://127.0.0.1:$redis_port/0"
start redis_b "${limit[@]}" --store "redis://127.0.0.1:$redis_port/0"
for name in "${!ports[@]}"; do
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${ports[$name]}/readyz" || true)" = 200 ] && break
    sleep 0.1
  done
done

token=$(get token_proxy)
results="$work/results"
half=$((conns / 2))
for round in $(seq "$rounds"); do
  for config in plain memory redis; do
    session=""
    [ "$config" != plain ] && session="bench-session-$round"
    loads=()
    for side in a b; do
      TOKEN="$token" SESSION="$session" wrk -t1 -c"$half" -d"${duration}s" --latency \
        -s benches/http/whoami.lua "http://127.0.0.1:${ports[${config}_$side]}/mcp" \
        > "$work/wrk_$side" &
      loads+=($!)
    done
    wait "${loads[@]}"
    a=$(grep '^RESULT' "$work/wrk_a"); b=$(grep '^RESULT' "$work/wrk_b")
    echo "round $round: $config A $a"
    echo "round $round: $config B $b"
    echo "$round $config $a" >> "$results"
    echo "$round $config $b" >> "$results"
  done
done
echo "Redis keys after the run: $(redis-cli -p "$redis_port" dbsize)"
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, name, rest = line.split(" ", 2)
    fields = dict(kv.split("=") for kv in rest.split()[1:])
    if int(fields["non2xx"]) or int(fields["errors"]):
        print(f"WARNING: round {rnd} {name}: non2xx={fields['non2xx']} errors={fields['errors']}")
    rps, p99 = rows.setdefault(int(rnd), {}).get(name, (0.0, 0))
    rows[int(rnd)][name] = (rps + float(fields["rps"]), max(p99, int(fields["p99_us"])))
for name in ["plain", "memory", "redis"]:
    rps = [r[name][0] for r in rows.values()]
    p99 = [r[name][1] for r in rows.values()]
    print(f"{name}: median {statistics.median(rps):.0f} req/s (both replicas; {', '.join(f'{x:.0f}' for x in rps)}), p99 median {statistics.median(p99)} us ({', '.join(map(str, p99))})")
def report(label, num, den, what=0):
    ratios = [r[num][what] / r[den][what] for r in rows.values()]
    print(f"{label} = {statistics.median(ratios):.3f} (median of {len(ratios)}: {', '.join(f'{x:.3f}' for x in ratios)})")
report("req/s redis/memory", "redis", "memory")
report("req/s memory/plain", "memory", "plain")
report("p99 redis/memory", "redis", "memory", 1)
PY
