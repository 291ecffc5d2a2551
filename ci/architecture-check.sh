#!/usr/bin/env bash
# Holds ARCHITECTURE.md to the tree: every source file of the published crates is named there,
# every path it names exists, and no crate has an import cycle between its modules.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
crates="core driver adapter-hyper adapter-lambda cli testkit"
for f in $(for c in $crates; do find "$c/src" -name '*.rs'; done | sort); do
  if ! grep -q "\`$f\`" ARCHITECTURE.md; then
    echo "ARCHITECTURE.md does not name $f"; status=1
  fi
done
for p in $(grep -o '`[a-z][a-z0-9_.-]*/[A-Za-z0-9_./-]*`' ARCHITECTURE.md | tr -d '`' | sort -u); do
  case "$p" in
    core/*|driver/*|adapter-hyper/*|adapter-lambda/*|cli/*|testkit/*|benches/*|fuzz/*|ci/*|interop/*)
      [ -e "$p" ] || { echo "ARCHITECTURE.md names $p, which does not exist"; status=1; } ;;
  esac
done
python3 ci/module_graph.py $(for c in $crates; do echo "$c/src"; done) > /dev/null || {
  python3 ci/module_graph.py $(for c in $crates; do echo "$c/src"; done) | grep -B100 CYCLE; status=1; }
[ "$status" -eq 0 ] && echo "ARCHITECTURE.md matches the tree; no import cycle"
exit "$status"
