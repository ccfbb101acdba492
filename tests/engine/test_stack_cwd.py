"""`attune up` started where the user's own `click.py`, `yaml.py`, ... lie: the stack's Python
processes (`python -m attune.cli api`, the workers) had the working directory first on sys.path
and imported those in place of the libraries (the API died at start, or ran the user's script).
An action still imports from its own pack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from attune.engine.server import free_port
from tests.engine.test_stack_lifecycle import wait_serving

pytestmark = pytest.mark.slow

SHADOWS = ("click", "yaml", "httpx", "typer", "pydantic", "json")
PACK = {
    "pack.yaml": "ref: here\nlabel: Here\ndescription: imports\nversion: '1.0.0'\n",
    "actions/imports.yaml": "ref: here.imports\nrunner_type: python\nentry_point: imports.py\noutput_format: json\n",
    "actions/imports.py": "import json, helper\nprint(json.dumps({'helper': helper.NAME, 'json': json.__file__}))\n",
    "actions/helper.py": "NAME = 'the pack helper'\n",
}


def test_the_stack_does_not_import_the_user_s_files_from_where_it_was_started(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    for name in SHADOWS:
        (tmp_path / f"{name}.py").write_text(
            f"open({str(marker)!r}, 'a').write('{name} ')\nraise SystemExit('the user file {name}.py ran')\n")
    for rel, text in PACK.items():
        (tmp_path / "packs" / "here" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "packs" / "here" / rel).write_text(text)
    ports = {"temporal": free_port(), "ui": free_port(), "api": free_port()}
    api = f"http://127.0.0.1:{ports['api']}/api/v1"
    script = Path(sys.executable).parent / "attune"  # as a user runs it: not `python -m`, which would
    command = [str(script)] if script.exists() else [sys.executable, "-P", "-m", "attune.cli"]  # import them too
    up = subprocess.Popen([*command, "up", "--temporal-port", str(ports["temporal"]), "--ui-port", str(ports["ui"]),
                           "--api-port", str(ports["api"])], cwd=tmp_path, start_new_session=True,
                          env={k: v for k, v in os.environ.items() if k != "ATTUNE_API_URL"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_serving(f"{api}/packs/here", up)
        run = httpx.post(f"{api}/executions/execute", json={"action_ref": "here.imports"}, timeout=30).json()["data"]
        done = httpx.get(f"{api}/executions/{run['id']}", params={"wait": 60}, timeout=90).json()["data"]
        assert done["status"] == "completed", done
        assert done["result"]["data"]["helper"] == "the pack helper"
        assert not done["result"]["data"]["json"].startswith(str(tmp_path))
        assert not marker.exists(), marker.read_text()
    finally:
        os.killpg(up.pid, signal.SIGINT)
        up.wait(60)
    assert not marker.exists(), marker.read_text()
