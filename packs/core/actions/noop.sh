#!/usr/bin/env bash
# core.noop: succeed without doing anything but print `message` when one is given (workflows use
# it as a labelled step or a branch point). Parameters: dotenv on stdin, see echo.sh.
set -euo pipefail
message=""
source /dev/stdin
if [ -n "$message" ]; then
  printf '%s\n' "$message"
fi
