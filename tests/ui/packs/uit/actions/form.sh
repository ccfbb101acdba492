#!/usr/bin/env bash
# uit.form: answer with the parameters it got (JSON on stdin), minus the secret's value.
set -euo pipefail
python3 -c 'import json,sys; p=json.load(sys.stdin); p["token"]=bool(p.get("token")); print(json.dumps(p))'
