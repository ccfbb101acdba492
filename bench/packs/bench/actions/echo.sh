#!/usr/bin/env bash
# bench.echo: print `message` (dotenv on stdin, like core.echo).
set -euo pipefail
message=""
source /dev/stdin
printf '%s\n' "$message"
