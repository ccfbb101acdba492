#!/usr/bin/env bash
# uit.check: exit 1 unless `ok` is true (dotenv parameters on stdin).
set -euo pipefail
ok=false
source /dev/stdin
if [ "$ok" != "true" ]; then
  echo "check failed: ok is $ok" >&2
  exit 1
fi
echo "check passed"
