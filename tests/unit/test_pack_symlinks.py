"""Packs reached through symlinks (a release symlink re-pointed to deploy), an actions/ folder
that is a symlink out of its pack, and the commands printed for a person to paste."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from attune.commandline import command_line
from attune.packs.current import ActionFiles, as_on_disk
from attune.packs.loader import load_pack
from attune.packs.pack_dir import given_path
from attune.packs.problems import PackError
from attune.runtimes.models import ProcessRequest
from attune.runtimes.process import run_process
from attune.settings import Settings
from attune.stack import up_banner

STEP = "ref: lp.step\nrunner_type: shell\nentry_point: {entry}\n"


def release(root: Path, name: str, said: str, entry: str = "step.sh") -> Path:
    """One release of pack `lp`: its step prints `said`."""
    pack = root / name
    (pack / "actions").mkdir(parents=True)
    (pack / "pack.yaml").write_text("ref: lp\nversion: 1.0.0\n")
    (pack / "actions" / "step.yaml").write_text(STEP.format(entry=entry))
    (pack / "actions" / entry).write_text(f"echo {said}\n")
    then = time.time() - 60  # not being written now: the worker's cache keeps it
    os.utime(pack / "actions" / "step.yaml", (then, then))
    return pack


def repoint(link: Path, target: Path) -> None:
    """`ln -sfn target link`, atomically, as a deploy does."""
    tmp = link.with_name(link.name + ".new")
    tmp.symlink_to(target)
    tmp.replace(link)


def request_of(pack: Path) -> ProcessRequest:
    """What a run started now sends a worker for lp.step (the run's copy of the action)."""
    action = load_pack(pack).actions["lp.step"]
    assert action.pack_dir and action.runner and action.entry_point
    return ProcessRequest(execution_id="w/s", action_ref=action.ref, pack_ref="lp", pack_dir=action.pack_dir,
                          runner=action.runner, entry_point=action.entry_point,
                          metadata_file=action.metadata_file, metadata_digest=action.metadata_digest)


def test_a_pack_loaded_through_a_symlink_keeps_the_symlink_as_its_path(tmp_path):
    """It was registered by its target: re-pointing the link (a new release) changed nothing."""
    link = tmp_path / "packs" / "lnk"
    link.parent.mkdir()
    link.symlink_to(release(tmp_path, "r1", "one"))
    pack = load_pack(link)
    assert pack.path == str(link)
    assert {a.pack_dir for a in pack.actions.values()} == {str(link)}


def test_given_path_is_absolute_keeps_symlinks_and_reads_dotdot_as_the_kernel_does(tmp_path, monkeypatch):
    target = release(tmp_path, "releases/7", "seven")
    (tmp_path / "current").symlink_to(target)
    monkeypatch.chdir(tmp_path)
    assert given_path("current") == tmp_path / "current"
    assert given_path("./current/") == tmp_path / "current"
    # After a symlink `..` is its target's parent, as `cd -P` and the kernel read it.
    assert given_path("current/../7") == tmp_path / "releases" / "7"
    assert given_path(tmp_path / "releases" / ".." / "current") == tmp_path / "current"


async def test_a_task_started_after_the_link_is_repointed_runs_the_new_release(tmp_path):
    """The README's story of a pack upgraded while runs are in flight holds for a release
    symlink: a task that starts after the switch runs the new release's script with its YAML."""
    link = tmp_path / "lnk"
    link.symlink_to(release(tmp_path, "r1", "one"))
    started = request_of(link)  # the run's copy, taken from release 1
    files = ActionFiles()
    first = await run_process(as_on_disk(started, files))
    assert first.succeeded and first.stdout == "one\n", first
    repoint(link, release(tmp_path, "r2", "two"))  # same YAML, new script
    same_yaml = await run_process(as_on_disk(started, files))
    assert same_yaml.succeeded and same_yaml.stdout == "two\n", same_yaml
    repoint(link, release(tmp_path, "r3", "three", entry="step3.sh"))  # the YAML changed too
    now = as_on_disk(started, files)
    assert now.entry_point == "step3.sh" and now.pack_dir == str(link)
    changed = await run_process(now)
    assert changed.succeeded and changed.stdout == "three\n", changed


async def test_an_actions_folder_that_is_a_symlink_out_of_the_pack_fails_the_task(tmp_path):
    """The entry point was checked against actions/ resolved, so an actions/ that is a symlink
    elsewhere (with the same file names) ran the outside script; registration refuses it."""
    pack = release(tmp_path, "pack", "inside")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "step.sh").write_text("echo outside\n")
    (elsewhere / "step.yaml").write_text((pack / "actions" / "step.yaml").read_text())
    started = request_of(pack)
    (pack / "actions" / "step.yaml").unlink()
    (pack / "actions" / "step.sh").unlink()
    (pack / "actions").rmdir()
    (pack / "actions").symlink_to(elsewhere)
    result = await run_process(as_on_disk(started, ActionFiles()))
    assert not result.succeeded and result.exit_code is None and result.stdout is None, result
    assert result.error == (f"'entry_point' resolves outside the pack: step.sh (actions/ is a symlink "
                            f"to {elsewhere})")
    # Registration says the same of this layout.
    with pytest.raises(PackError, match="step.yaml resolves outside the pack"):
        load_pack(pack)


def test_commands_printed_to_paste_are_shell_quoted():
    weird = Path("bad dir $x 'q\"")
    line = command_line("attune", "pack", "register", weird, "--api-url", "http://127.0.0.1:8001")
    assert shlex.split(line) == ["attune", "pack", "register", str(weird), "--api-url", "http://127.0.0.1:8001"]
    assert command_line("attune", "pack", "register", Path("-packs/d2")) == "attune pack register ./-packs/d2"
    assert command_line("attune", "pack", "register", Path("/abs/-d")) == "attune pack register /abs/-d"
    assert command_line("attune", "run", "examples.sequence") == "attune run examples.sequence"
    # bash itself reads it so: the words `attune` gets, one a line.
    shown = subprocess.run(["bash", "-c", f'attune() {{ printf "%s\\n" "$@"; }}; {line}'],
                           capture_output=True, text=True, check=True).stdout
    assert shown.splitlines() == ["pack", "register", str(weird), "--api-url", "http://127.0.0.1:8001"]


def test_the_up_banner_names_each_pack_to_register_as_a_command_that_pastes():
    settings = Settings.load(api_url="http://127.0.0.1:8001")
    lines = [line.plain for line in up_banner(settings, [Path("packs/bad dir $x 'q\""), Path("-packs/d2")])]
    commands = [shlex.split(line.removeprefix("  once fixed: ")) for line in lines[1:]]
    assert commands == [["attune", "pack", "register", "packs/bad dir $x 'q\"", "--api-url", "http://127.0.0.1:8001"],
                        ["attune", "pack", "register", "./-packs/d2", "--api-url", "http://127.0.0.1:8001"]]
