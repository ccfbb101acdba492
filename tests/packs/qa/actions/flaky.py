"""Fails until it has been called `succeed_on` times (counted in a file), logging call times."""
import json
import sys
import time

params = json.load(sys.stdin)
path = params["counter_file"]
try:
    with open(path) as f:
        calls = json.load(f)
except FileNotFoundError:
    calls = []
calls.append(time.time())
with open(path, "w") as f:
    json.dump(calls, f)
if len(calls) < params["succeed_on"]:
    print(f"attempt {len(calls)} failed", file=sys.stderr)
    sys.exit(1)
print(json.dumps({"attempts": len(calls)}))
