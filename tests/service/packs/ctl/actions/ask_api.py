"""Ask through the API as a real action would: with the execution token in ATTUNE_API_TOKEN.
Also tries what the token must not allow, and reports each answer's status code."""
import json
import os
import sys
import urllib.error
import urllib.request

params = json.load(sys.stdin)
api = os.environ["ATTUNE_API_URL"].rstrip("/") + "/api/v1"
token = os.environ["ATTUNE_API_TOKEN"]


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


question = {"prompt": "Ship it?", "purpose": params.get("purpose", "release gate"), "timeout_seconds": params["timeout_seconds"],
            "response_schema": {"by": {"type": "string", "required": True}}}
first_status, first = call("POST", "/inquiries", question)
again_status, again = call("POST", "/inquiries", question)
if first_status >= 300:
    sys.exit(f"POST /inquiries answered {first_status}: {first}")
inquiry_id = first["data"]["id"]
refused = {
    "list_executions": call("GET", "/executions")[0],
    "submit": call("POST", "/executions/execute", {"action_ref": "ctl.echo", "parameters": {}})[0],
    "respond": call("POST", f"/inquiries/{inquiry_id}/respond", {"response": {"by": "me"}})[0],
    "packs": call("GET", "/packs")[0],
}
own = call("GET", f"/inquiries/{inquiry_id}")[0]
print(json.dumps({"inquiry_id": inquiry_id, "created": first_status, "again": again_status,
                  "same": again["data"]["id"] == inquiry_id, "refused": refused, "own": own,
                  "token_in_env": bool(token)}))
