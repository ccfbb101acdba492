#!/usr/bin/env bash
# core.sleep: wait `seconds`, then print `message` if one is given (dotenv parameters on stdin,
# see echo.sh).
set -euo pipefail
seconds=1
message=""
source /dev/stdin
sleep "$seconds"
if [ -n "$message" ]; then
  printf '%s\n' "$message"
fi
