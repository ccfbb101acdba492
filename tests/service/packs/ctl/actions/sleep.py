import json
import sys
import time

params = json.load(sys.stdin)
time.sleep(float(params.get("seconds", 0.3)))
print(json.dumps(params))
