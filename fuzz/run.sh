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
  cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- -max_total_time="$secs" 2>&1 \
    | grep -E "^Done|ERROR|SUMMARY|panicked" || true
  # cargo-fuzz exits non-zero on a crash, and pipefail carries it.
done
