#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 30), starting from the committed
# seeds; new inputs go to fuzz/corpus/ (not committed). Exit non-zero on the first crash.
#   bash fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-30}
cargo +nightly fuzz build
for target in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$target" "seeds/$target"
  echo "== $target (${secs}s)"
  # The run's own status decides, not the filter's: a crash fails this script (and CI).
  log="$(mktemp)"
  status=0
  cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- -max_total_time="$secs" \
    >"$log" 2>&1 || status=$?
  grep -E "^Done|ERROR|SUMMARY|panicked|divergence" "$log" || true
  if [ "$status" -ne 0 ]; then
    echo "== $target FAILED (exit $status); the last lines of its log:"
    tail -n 60 "$log"
    exit "$status"
  fi
  rm -f "$log"
done
