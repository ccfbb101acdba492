#!/usr/bin/env bash
# A careless script that prints the secret it was given: results must show ******** instead.
set -euo pipefail
token="" note="" mode=text
source /dev/stdin
case "$mode" in
  text) echo "token is $token"; echo "note is $note"; echo "debug: $token" >&2 ;;
  json) printf '{"echo": "%s", "%s": 1}\n' "$token" "$token" ;;
  fail) echo "login failed for $token" >&2; exit 3 ;;
esac
