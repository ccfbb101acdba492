#!/usr/bin/env bash
# examples.count_words: count the words and characters of `text` and print them as JSON.
# Parameters arrive as dotenv lines on stdin (single-quoted, safe to source).
set -euo pipefail
text=""
source /dev/stdin
words=$(printf '%s' "$text" | wc -w | tr -d ' ')
printf '{"words": %d, "chars": %d}\n' "$words" "${#text}"
