#!/usr/bin/env bash
# uit.wait_file: poll for `path` (dotenv parameters on stdin); the action's timeout bounds it.
set -euo pipefail
path=""
source /dev/stdin
until [ -e "$path" ]; do sleep 0.1; done
echo "found $path"
