"""web/src/format.ts under Node: the web UI's formatting helpers, compiled by the project's own
TypeScript (web/node_modules, as `make install` sets it up) and called with edge cases. No
browser: these are pure functions, and a page would only show one value at a time."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"

# Transpile one module with the project's compiler and import it from a data: URL.
RUN = """
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const ts = createRequire(process.argv[1] + "/")("typescript");
const source = readFileSync(process.argv[2], "utf8");
const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2022 } }).outputText;
const mod = await import("data:text/javascript;base64," + Buffer.from(js).toString("base64"));
const cases = JSON.parse(process.argv[3]);
console.log(JSON.stringify(cases.map(([fn, args]) => mod[fn](...args))));
"""


def call(module: str, cases: list[tuple[str, list[object]]]) -> list[object]:
    node = shutil.which("node")
    if node is None or not (WEB / "node_modules" / "typescript").is_dir():
        pytest.skip("needs node and web/node_modules (make install)")
    done = subprocess.run([node, "--input-type=module", "-e", RUN, str(WEB), str(WEB / "src" / module),
                           json.dumps(cases)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_duration_rounds_once_at_the_unit_it_shows() -> None:
    """119.6 s read "1m 60s", 3599.6 s "59m 60s", 59.96 s "60.0 s", 9.996 s "10.00 s" and
    999.6 ms "999.6 ms" (each rounded within its unit, after the unit was picked); from an hour
    up the minutes were cut, not rounded (7199.999 s read "1h 59m")."""
    expected = {
        0: "0 ms", 999.4: "999 ms", 999.6: "1.00 s", 1000: "1.00 s", 9_994: "9.99 s", 9_996: "10.0 s",
        10_000: "10.0 s", 59_940: "59.9 s", 59_960: "1m 0s", 60_000: "1m 0s", 61_400: "1m 1s",
        119_400: "1m 59s", 119_600: "2m 0s", 3_599_400: "59m 59s", 3_599_600: "1h 0m",
        3_600_000: "1h 0m", 7_169_000: "1h 59m", 7_199_999: "2h 0m", 90_000_000: "25h 0m",
    }
    shown = call("format.ts", [("span", [ms]) for ms in expected])
    assert dict(zip(expected, shown, strict=True)) == expected


def test_a_duration_between_two_times() -> None:
    start = "2026-01-01T00:00:00.000Z"
    shown = call("format.ts", [("duration", [start, "2026-01-01T00:01:59.600Z"]),
                               ("duration", [start, "2026-01-01T00:00:59.960Z"]),
                               ("duration", [start, "2025-12-31T23:59:59.000Z"]),  # ends before it starts
                               ("duration", [None, start]),
                               ("duration", ["not a time", start])])
    assert shown == ["2m 0s", "1m 0s", "—", "—", "—"]


def test_a_stream_cut_at_the_cap_says_how_much_was_kept_of_how_much() -> None:
    """The page said `stdout (truncated)` of 5 MB printed: not that 95 % of it, its last line
    too, was dropped."""
    big = {"stdout": "x" * 2048, "stdout_truncated": True, "stdout_bytes": 5_100_000,
           "stderr": "é" * 600, "stderr_truncated": True}
    shown = call("format.ts", [("cutNote", [big, "stdout"]), ("cutNote", [big, "stderr"]),
                               ("cutNote", [{"stdout": "ok"}, "stdout"]),
                               ("bytes", [1023]), ("bytes", [1024])])
    assert shown == ["cut at 2 KiB of 4.9 MiB; the rest was not kept",
                     "keeps the last 1 KiB; what came before was not kept",  # 1,200 bytes of UTF-8; no total recorded
                     None, "1023 B", "1 KiB"]
