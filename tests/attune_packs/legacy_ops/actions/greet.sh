#!/usr/bin/env bash
# legacy_ops.greet: dotenv parameters on stdin, one JSON line out.
set -euo pipefail
who=""
answer="true"
source /dev/stdin
printf '{"greeting": "hello %s", "verdict": "%s"}\n' "$who" "$answer"
