#!/usr/bin/env bash
# HTTP load on 127.0.0.1 with wrk (Debian package `wrk`): the two-tool rmcp server unprotected,
# protected with the verified-token cache, and protected without it (a signature per request).
# Prints req/s and p99 per target and the protected/unprotected ratios. With ROUNDS > 1 the four
# targets run in turn ROUNDS times and the ratios are taken within each round (the machine's
# speed drifts between rounds as much as the difference being measured); the median is printed.
#
#   bash benches/http/run.sh [DURATION_SECONDS] [CONNECTIONS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
conns=${2:-64}
rounds=${3:-1}
command -v wrk >/dev/null || { echo "install wrk: apt-get install -y wrk" >&2; exit 2; }
cargo build --release -q -p mcp-authz-benches --bin http_target
out=$(mktemp)
./target/release/http_target > "$out" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
line=$(head -n1 "$out")
get() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$line" "$1"; }
run() { # name url token
  local r
  r=$(TOKEN="$3" wrk -t2 -c"$conns" -d"${duration}s" --latency -s benches/http/whoami.lua "$2" | grep '^RESULT')
  echo "$1 $r"
}
results=$(mktemp)
for round in $(seq "$rounds"); do
  for target in unprotected protected_cache protected_nocache proxy; do
    token=""
    case $target in
      protected_cache) token=$(get token_cache) ;;
      protected_nocache) token=$(get token_nocache) ;;
      proxy) token=$(get token_proxy) ;;
    esac
    line_out=$(run "$target" "$(get "$target")" "$token")
    echo "round $round: $line_out"
    echo "$round $line_out" >> "$results"
  done
done
python3 - "$results" <<'PY'
import re, statistics, sys
rps = {}
for line in open(sys.argv[1]):
    rnd, name, rest = line.split(" ", 2)
    rps.setdefault(int(rnd), {})[name] = float(re.search(r"rps=([0-9.]+)", rest).group(1))
for name, label in [("protected_cache", "protected(cache)"), ("protected_nocache", "protected(no cache)"),
                    ("proxy", "proxy(cache, one more hop)")]:
    ratios = [r[name] / r["unprotected"] for r in rps.values()]
    each = ", ".join(f"{x:.3f}" for x in ratios)
    print(f"ratio {label}/unprotected = {statistics.median(ratios):.3f} (median of {len(ratios)}: {each})")
PY
rm -f "$results"
# Peak resident memory of the one process serving all four targets, after every run.
echo "peak RSS (VmHWM) of the server process: $(grep VmHWM /proc/"$(get pid)"/status | awk '{print $2, $3}')"
