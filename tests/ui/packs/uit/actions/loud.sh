#!/usr/bin/env bash
# uit.loud: fail with a long stderr (over the workflow view's 8 KB per field) whose last line is
# one long word, as a stack trace or a base64 blob may be.
for i in $(seq 1 200); do echo "trace line $i: something went wrong deep inside" >&2; done
printf 'FATAL:%0.s' >&2; printf 'E%.0s' $(seq 1 3000) >&2; echo >&2
exit 3
