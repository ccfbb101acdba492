"""Reports its parent pid: the worker when spawned, the warm starter when forked."""
import json
import os
import sys

json.load(sys.stdin)
print(json.dumps({"ppid": os.getppid(), "pid": os.getpid()}))
