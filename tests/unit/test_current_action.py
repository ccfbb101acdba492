"""A task runs its script with the action YAML as it is when the task starts (packs/current.py):
the run's copy says which file and what it held; the worker reads it again when it differs."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from attune.packs.current import ActionChanged, ActionFileGone, ActionFiles, as_on_disk, differences
from attune.packs.loader import load_pack
from attune.packs.pack_dir import digest_of
from attune.runtimes.models import ProcessRequest
from attune.secrets import is_sealed, seal_parameters

DOTENV = """\
ref: ops.step
runner_type: shell
entry_point: step.sh
parameter_format: dotenv
parameters:
  who: {type: string, default: old}
  count: {type: integer}
"""
JSON = """\
ref: ops.step
runner_type: shell
entry_point: step2.sh
parameter_format: json
output_format: json
parameters:
  who: {type: string, default: new}
  count: {type: integer}
  greeting: {type: string, default: hi}
"""


def make_pack(root: Path, step: str = DOTENV) -> Path:
    pack = root / "ops"
    (pack / "actions" / "workflows").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: ops\nversion: 1.0.0\n")
    (pack / "actions" / "step.yaml").write_text(step)
    for script in ("step.sh", "step2.sh", "step.py"):
        (pack / "actions" / script).write_text("cat\n")
    (pack / "actions" / "flow.yaml").write_text("ref: ops.flow\nworkflow_file: workflows/flow.yaml\n")
    (pack / "actions" / "workflows" / "flow.yaml").write_text(
        "version: '1.0'\ntasks:\n  - name: s\n    action: ops.step\n")
    age(pack / "actions" / "step.yaml")
    return pack


def age(path: Path, seconds: float = 60) -> None:
    """As if written a minute ago: the cache keeps files that are not being written now."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def request_for(pack: Path, parameters: dict | None = None, **more) -> ProcessRequest:
    action = load_pack(pack).actions["ops.step"]
    params = {"who": "old", **(parameters or {})}
    fields = dict(execution_id="w/s", action_ref=action.ref, pack_ref="ops", pack_dir=str(pack),
                  runner=action.runner, entry_point=action.entry_point, parameters=params,
                  parameter_format=action.parameter_format, output_format=action.output_format,
                  metadata_file=action.metadata_file, metadata_digest=action.metadata_digest,
                  defaulted=action.defaulted(params))
    return ProcessRequest(**(fields | more))


def test_the_loader_records_each_script_actions_yaml_and_its_digest(tmp_path):
    pack = make_pack(tmp_path)
    loaded = load_pack(pack)
    step = loaded.actions["ops.step"]
    assert step.metadata_file == "actions/step.yaml"
    assert step.metadata_digest == digest_of((pack / "actions" / "step.yaml").read_bytes())
    # A workflow action's graph travels with the run: nothing to read again.
    assert loaded.actions["ops.flow"].metadata_file is None
    assert step.defaulted({"who": "old", "count": 1}) == ["who"]
    assert step.defaulted({"who": "me"}) == []


def test_an_unchanged_yaml_leaves_the_request_as_it_is_and_costs_a_stat(tmp_path):
    pack = make_pack(tmp_path)
    files, request = ActionFiles(), request_for(pack)
    for _ in range(3):
        assert as_on_disk(request, files) is request
    assert files.reads == 1  # the first use reads it; the others only stat it


def test_a_request_without_the_files_digest_is_not_checked(tmp_path):
    pack = make_pack(tmp_path)
    request = request_for(pack, metadata_file=None, metadata_digest=None)
    (pack / "actions" / "step.yaml").write_text(JSON)
    assert as_on_disk(request, ActionFiles()) is request


def test_the_cache_reads_a_file_again_when_it_changes(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("one")
    age(path)
    files = ActionFiles()
    assert files.read(path).content == b"one" and files.read(path).content == b"one"
    assert files.reads == 1
    path.write_text("two")  # same size; a new mtime
    age(path, 30)
    assert files.read(path).content == b"two"
    assert files.reads == 2
    # Replaced by a rename (as editors and deploy tools do) with the same size and mtime: the
    # inode tells (the old one is kept alive so that it cannot be reused).
    os.link(path, tmp_path / "old.yaml")
    (tmp_path / "new.yaml").write_text("six")
    mtime = path.stat().st_mtime_ns
    os.utime(tmp_path / "new.yaml", ns=(mtime, mtime))
    os.replace(tmp_path / "new.yaml", path)
    assert files.read(path).content == b"six"


def test_a_file_being_written_now_is_read_at_each_use(tmp_path):
    """Two writes of the same size within one timestamp tick look alike to a stat."""
    path = tmp_path / "a.yaml"
    path.write_text("one")
    files = ActionFiles()
    files.read(path)
    files.read(path)
    assert files.reads == 2
    with pytest.raises(FileNotFoundError):
        files.read(tmp_path / "nope.yaml")


def test_an_upgraded_yaml_gives_the_task_its_new_format_script_and_defaults(tmp_path):
    pack = make_pack(tmp_path)
    request = request_for(pack, {"count": 2})
    assert request.defaulted == ["who"]
    (pack / "actions" / "step.yaml").write_text(JSON)
    now = as_on_disk(request, ActionFiles())
    assert (now.entry_point, now.parameter_format, now.output_format) == ("step2.sh", "json", "json")
    # `who` held the old default: the new one applies; `count` was given; `greeting` is new.
    assert now.parameters == {"who": "new", "count": 2, "greeting": "hi"}
    assert now.metadata_digest == digest_of(JSON.encode())
    assert differences(request, now) == {"entry_point": "step2.sh", "parameter_format": "json",
                                         "output_format": "json", "parameters added": ["greeting"]}
    given = request_for(pack.parent / "ops", {"who": "me"}, metadata_digest=request.metadata_digest)
    assert as_on_disk(given, ActionFiles()).parameters == {"who": "me", "greeting": "hi"}


@pytest.mark.parametrize("change, says", [
    (lambda y: y.replace("runner_type: shell", "runner_type: python").replace("step.sh", "step.py"),
     "its runner is python now, not shell, and this task was sent to the shell workers"),
    (lambda y: y.replace("ref: ops.step", "ref: ops.other"), "the file defines 'ops.other' now, not 'ops.step'"),
    (lambda y: y.replace("count: {type: integer}", "count: {type: integer, required: true}"),
     "the task's input does not fit its parameters now: count: required parameter 'count' is missing"),
    (lambda y: y.replace("runner_type: shell\nentry_point: step.sh\n", "workflow_file: workflows/flow.yaml\n"),
     "it is a workflow now (workflow_file: workflows/flow.yaml), not a shell script"),
    (lambda y: y.replace("entry_point: step.sh", "entry_point: gone.sh"), "and is not valid now: "),
    (lambda y: y + "  bad: [\n", "and is not valid now: "),
])
def test_a_yaml_this_task_cannot_run_with_fails_it_saying_what_changed(tmp_path, change, says):
    pack = make_pack(tmp_path)
    request = request_for(pack)
    yaml = pack / "actions" / "step.yaml"
    yaml.write_text(change(DOTENV))
    with pytest.raises(ActionChanged) as failed:
        as_on_disk(request, ActionFiles())
    message = str(failed.value)
    assert message.startswith(f"action 'ops.step' changed since this run started ({yaml})")
    assert says in message
    assert "re-run the execution (`attune execution rerun ID`) to run it as the pack is now" in message
    if "not valid" in says:
        assert f"{yaml}:" in message and f"`attune validate {yaml}`" in message


def test_a_removed_yaml_hands_the_task_back_and_a_missing_pack_is_left_to_the_process(tmp_path):
    pack = make_pack(tmp_path)
    request = request_for(pack)
    (pack / "actions" / "step.yaml").unlink()
    with pytest.raises(ActionFileGone, match=r"action YAML not found: .*/ops/actions/step.yaml, which "
                       r"defined 'ops.step' when the run started \(the action was removed since"):
        as_on_disk(request, ActionFiles())
    elsewhere = request.model_copy(update={"pack_dir": str(tmp_path / "nowhere")})
    assert as_on_disk(elsewhere, ActionFiles()) is elsewhere


def test_a_sealed_secret_stays_sealed_and_is_checked_by_the_new_schema(tmp_path):
    key = Fernet.generate_key()
    pack = make_pack(tmp_path, DOTENV + "  token: {type: string, secret: true}\n")
    sealed = seal_parameters({"token": "s3cret"}, {"token"}, key)
    request = request_for(pack, sealed, secret_names=["token"])
    (pack / "actions" / "step.yaml").write_text(
        JSON + "  token: {type: string, secret: true, minLength: 10}\n")
    now = as_on_disk(request, ActionFiles())
    assert is_sealed(now.parameters["token"])
    assert now.secret_names == ["token"]
    assert now.secret_checks == {"token": {"type": "string", "minLength": 10}}


def test_an_unchanged_yaml_costs_microseconds_per_task(tmp_path):
    """Issue 13: every task of every run asks. Measured here: a stat and a dict lookup."""
    pack = make_pack(tmp_path)
    files, request = ActionFiles(), request_for(pack)
    as_on_disk(request, files)
    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        as_on_disk(request, files)
    per_task = (time.perf_counter() - started) / n
    print(f"unchanged action YAML: {per_task * 1e6:.1f} µs per task")
    assert files.reads == 1
    assert per_task < 0.001
