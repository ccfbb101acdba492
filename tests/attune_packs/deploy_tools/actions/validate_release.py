"""deploy_tools.validate_release: both packages come from the pack's virtualenv (one from
requirements.txt, one from pack.yaml meta.python_dependencies)."""

import json
import sys

import corpus_meta_dep
import corpus_req_dep

params = json.load(sys.stdin)
print(json.dumps({
    "summary": f"{params['app_name']} {params['version']} is valid",
    "duration_seconds": 12,
    "packages": [corpus_req_dep.SOURCE, corpus_meta_dep.SOURCE],
}))
