#!/usr/bin/env bash
# A careless script that prints the secret it was given: results must show ******** instead.
set -euo pipefail
token="" note="" mode=text
source /dev/stdin
case "$mode" in
  text) echo "token is $token"; echo "note is $note"; echo "debug: $token" >&2 ;;
  json) printf '{"echo": "%s", "%s": 1}\n' "$token" "$token" ;;
  fail) echo "login failed for $token" >&2; exit 3 ;;
  # the secret straddles stdout's 256 KiB cap, and the start of what stderr keeps
  cut) head -c 262132 /dev/zero | tr '\0' A; echo "$token"
       { printf '%s' "$token"; head -c 262138 /dev/zero | tr '\0' B; } >&2 ;;
esac
