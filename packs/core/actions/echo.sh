#!/usr/bin/env bash
# core.echo: print `message`.
# Parameters arrive on stdin as dotenv lines, single-quoted with '\'' escapes, so sourcing them
# assigns the values without expanding anything inside them.
set -euo pipefail
message=""
source /dev/stdin
printf '%s\n' "$message"
