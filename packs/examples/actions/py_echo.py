"""examples.py_echo: print the parameters it received, as JSON."""

import json
import sys

print(json.dumps(json.load(sys.stdin), sort_keys=True))
