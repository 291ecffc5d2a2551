#!/usr/bin/env bash
# HTTP load on 127.0.0.1 with wrk (Debian package `wrk`): the two-tool rmcp server unprotected,
# protected with the verified-token cache, and protected without it (a signature per request).
# Prints req/s and p99 per target and the protected/unprotected ratios.
#
#   bash benches/http/run.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
duration=${1:-10}
conns=${2:-64}
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
declare -A rps
while read -r name rest; do
  echo "$name $rest"
  rps[$name]=$(echo "$rest" | sed -E 's/.*rps=([0-9.]+).*/\1/')
done < <(
  run unprotected "$(get unprotected)" ""
  run protected_cache "$(get protected_cache)" "$(get token_cache)"
  run protected_nocache "$(get protected_nocache)" "$(get token_nocache)"
  run proxy "$(get proxy)" "$(get token_proxy)"
)
python3 - "${rps[unprotected]}" "${rps[protected_cache]}" "${rps[protected_nocache]}" "${rps[proxy]}" <<'PY'
import sys
u, c, n, p = map(float, sys.argv[1:])
print(f"ratio protected(cache)/unprotected = {c/u:.3f}")
print(f"ratio protected(no cache)/unprotected = {n/u:.3f}")
print(f"ratio proxy(cache, one more hop)/unprotected = {p/u:.3f}")
PY
# Peak resident memory of the one process serving all four targets, after every run.
echo "peak RSS (VmHWM) of the server process: $(grep VmHWM /proc/"$(get pid)"/status | awk '{print $2, $3}')"
