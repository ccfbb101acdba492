#!/bin/bash
# Proves the secret reached the process without printing it: prints its length only.
python3 -c 'import json,sys; p=json.load(sys.stdin); print(json.dumps({"length": len(p["token"])}))'
