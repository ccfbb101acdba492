"""examples.flaky: fail the first `failures` attempts for a given `key`, then succeed.

Retries re-run the action with the same parameters, so the attempt count is kept in a small file
named after `key` (pass something unique per run, e.g. the workflow's execution id).
"""

import json
import os
import re
import sys
import tempfile

params = json.load(sys.stdin)
failures = params.get("failures", 2)
safe_key = re.sub(r"[^A-Za-z0-9_.-]", "_", str(params["key"]))
counter = os.path.join(tempfile.gettempdir(), f"attune-flaky-{safe_key}")
attempt = (int(open(counter).read()) if os.path.exists(counter) else 0) + 1
if attempt <= failures:
    with open(counter, "w") as f:
        f.write(str(attempt))
    print(f"flaky: attempt {attempt} fails on purpose ({failures} failure(s) planned)", file=sys.stderr)
    sys.exit(1)
if os.path.exists(counter):
    os.remove(counter)
print(json.dumps({"attempts": attempt}))
