import json
import sys

params = json.load(sys.stdin)
if params["n"] == params.get("fail_at"):
    print(f"step {params['n']} fails on purpose", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"n": params["n"], "square": params["n"] ** 2}))
