#!/bin/bash
source /dev/stdin
trap 'date +%s.%N > "$dir/term"; exit 143' TERM
sleep 300 &
echo "$$ $!" > "$dir/pids"
wait
