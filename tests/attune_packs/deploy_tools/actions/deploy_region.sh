#!/usr/bin/env bash
# deploy_tools.deploy_region: JSON parameters on stdin, one JSON result line on stdout.
set -euo pipefail
params=$(cat)
region=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["region"])' "$params")
fail=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("fail_region") or "")' "$params")
if [ "$region" = "$fail" ]; then
  echo "deploy to $region failed" >&2
  exit 1
fi
printf '{"region": "%s", "deployed": true}\n' "$region"
