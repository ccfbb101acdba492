#!/bin/bash
# Appends its worker's pid to a file, then sleeps: lets a test kill the worker mid-task.
# The action's parent is the worker's process starter; the worker is the starter's parent.
file=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["pid_file"])')
read -r _ _ _ worker _ < "/proc/$PPID/stat"
echo "$worker" >> "$file"
sleep 4
echo '{"done": true}'
