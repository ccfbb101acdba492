#!/usr/bin/env bash
# core.fail: write `message` to stderr and exit 1; the runner reports the last stderr line as
# the result's `error`.
set -euo pipefail
message="core.fail: failing on purpose"
source /dev/stdin
printf '%s\n' "$message" >&2
exit 1
