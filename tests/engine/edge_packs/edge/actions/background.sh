#!/bin/bash
source /dev/stdin
sleep 300 &
echo $! > "$dir/background"
