#!/usr/bin/env bash
# svc.echo: print `message` `times` times (parameters arrive as dotenv lines on stdin).
set -euo pipefail
message="" times=1 mode=plain token=""
source /dev/stdin
for _ in $(seq "$times"); do printf '%s\n' "$message"; done
