#!/bin/bash
seconds=$(python3 -c 'import json,sys; print(json.load(sys.stdin).get("seconds", 1))')
sleep "$seconds"
echo "{\"slept\": $seconds}"
