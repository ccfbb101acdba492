#!/usr/bin/env bash
# core.sleep: wait `seconds` (dotenv parameters on stdin, see echo.sh).
set -euo pipefail
seconds=1
source /dev/stdin
sleep "$seconds"
