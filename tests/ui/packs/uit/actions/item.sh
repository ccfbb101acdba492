#!/usr/bin/env bash
# uit.item: one with_items item, `pause` s long; item `n` fails when it is one of `bad` (comma-separated).
n=0; bad=""; pause=0
source /dev/stdin
sleep "$pause"
case ",$bad," in *",$n,"*) echo "item $n is broken" >&2; exit 3;; esac
echo "item $n ok"
