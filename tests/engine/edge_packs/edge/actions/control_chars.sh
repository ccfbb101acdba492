#!/bin/bash
source /dev/stdin
echo run >> "$runs"
if [ "$stream" = stderr ]; then exec 1>&2; fi
head -c 262144 /dev/zero | tr '\0' '\001'
exit "$code"
