#!/usr/bin/env bash
# core.echo: print `message` (upper-cased with `uppercase: true`).
# Parameters arrive on stdin as dotenv lines, single-quoted with '\'' escapes, so sourcing them
# assigns the values without expanding anything inside them.
set -euo pipefail
message=""
uppercase=false
source /dev/stdin
if [ "$uppercase" = "true" ]; then
  message="${message^^}"
fi
printf '%s\n' "$message"
