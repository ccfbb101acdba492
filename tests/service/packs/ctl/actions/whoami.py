import json
import os
import sys

json.load(sys.stdin)
print(json.dumps({"token": "ATTUNE_API_TOKEN" in os.environ, "key": os.environ.get("ATTUNE_EXECUTION_KEY"),
                  "exec_id": os.environ.get("ATTUNE_EXEC_ID"), "api_url": os.environ.get("ATTUNE_API_URL")}))
