import json
import os
import sys
import time

params = json.load(sys.stdin)
with open(os.path.join(params["dir"], "hold"), "w") as f:
    f.write(str(os.getpid()))
time.sleep(300)
