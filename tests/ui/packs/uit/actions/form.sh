#!/usr/bin/env bash
# uit.form: answer with the parameters it got (JSON on stdin), minus the secrets' values.
set -euo pipefail
python3 -c 'import json,sys; p=json.load(sys.stdin); p["token"]=bool(p.get("token")); p["key"]=p.get("key")=="k3y-default"; print(json.dumps(p))'
