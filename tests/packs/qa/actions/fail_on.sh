#!/bin/bash
# Fails (exit 1) when value == fail_on, otherwise echoes its parameters.
read -r params
python3 -c 'import json,sys; p=json.loads(sys.argv[1]); sys.exit(1 if p["value"] == p["fail_on"] else 0)' "$params" || { echo "value matched fail_on" >&2; exit 1; }
echo "$params"
