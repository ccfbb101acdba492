#!/usr/bin/env bash
# examples.at_least: succeed when `value` >= `minimum`, else fail with the reason on stderr.
set -euo pipefail
value=0
minimum=0
source /dev/stdin
if (( value < minimum )); then
  printf 'value %s is below the minimum %s\n' "$value" "$minimum" >&2
  exit 1
fi
printf 'value %s reached the minimum %s\n' "$value" "$minimum"
