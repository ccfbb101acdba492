#!/usr/bin/env bash
# bench.sh_fibo: recursive fibo(n) in bash. The result comes back in a global (no $(...)
# subshell per call), so this measures bash, not fork.
set -euo pipefail
n=10
source /dev/stdin  # dotenv lines: n='10'
fibo() {
  local k=$1 a
  if (( k < 2 )); then R=$k; return; fi
  fibo $((k - 1)); a=$R
  fibo $((k - 2)); R=$((a + R))
}
fibo "$n"
printf '{"n": %d, "result": %d}\n' "$n" "$R"
