"""Reports whether it was forked from a warm starter (its command line is then the starter's)
or exec'd as `python3 -u <script>`."""
import json
import sys

json.load(sys.stdin)
with open("/proc/self/cmdline", "rb") as f:
    argv = f.read().split(b"\0")
print(json.dumps({"forked": any(a.endswith(b"_starter.py") for a in argv),
                  "script": any(a.endswith(b"ppid.py") for a in argv)}))
