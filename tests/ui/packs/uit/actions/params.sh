#!/usr/bin/env bash
# uit.params: answer with the parameters it got (JSON on stdin), as they came.
set -euo pipefail
cat
