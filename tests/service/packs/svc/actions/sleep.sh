#!/usr/bin/env bash
set -euo pipefail
seconds=1
source /dev/stdin
sleep "$seconds"
