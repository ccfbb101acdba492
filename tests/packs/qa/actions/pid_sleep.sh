#!/bin/bash
# Appends its worker's pid to a file, then sleeps: lets a test kill the worker mid-task.
file=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["pid_file"])')
echo "$PPID" >> "$file"
sleep 4
echo '{"done": true}'
