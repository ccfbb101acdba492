import json
import sys

params = json.load(sys.stdin)
with open(params["runs"], "a") as f:
    f.write("run\n")
sys.stdout.write(params["text"])
