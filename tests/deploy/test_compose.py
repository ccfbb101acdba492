"""docker-compose.yml can't run here (no Docker engine): check it parses and that every command
and ATTUNE_* variable it uses is one the CLI and settings accept."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml

from attune.cli import app
from attune.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
ATTUNE_SERVICES = [n for n, s in SERVICES.items() if s.get("image", "").startswith("attune")]


def parse_cli(args: list[str]) -> None:
    """Resolve subcommands and parse options exactly as the CLI would, without running it."""
    command = typer.main.get_command(app)
    ctx = command.make_context("attune", list(args), resilient_parsing=False)
    while hasattr(command, "resolve_command"):  # a group (typer vendors its own click)
        pending = list(getattr(ctx, "protected_args", None) or ctx._protected_args) + ctx.args
        name, command, rest = command.resolve_command(ctx, pending)
        ctx = command.make_context(name, rest, parent=ctx)


def test_compose_has_every_role():
    assert {"postgresql", "temporal", "temporal-ui", "api", "orchestrator", "worker-shell",
            "worker-python", "worker-nodejs"} <= set(SERVICES)


@pytest.mark.parametrize("name", [n for n in ATTUNE_SERVICES if SERVICES[n]["command"][0] == "attune"])
def test_service_command_is_accepted_by_the_cli(name):
    parse_cli(SERVICES[name]["command"][1:])


def test_register_packs_uses_a_real_cli_command():
    script = SERVICES["register-packs"]["command"][-1]
    assert "attune pack register" in script
    parse_cli(["pack", "register", "/packs/core", "-o", "json"])


def test_bad_command_would_be_caught():
    with pytest.raises(Exception, match="No such option"):
        parse_cli(["worker", "--runtime", "shell", "--no-such-flag"])
    with pytest.raises(Exception, match="No such command"):
        parse_cli(["wrker", "--runtime", "shell"])


@pytest.mark.parametrize("name", ATTUNE_SERVICES)
def test_environment_names_are_settings(name):
    fields = {f"ATTUNE_{f.upper()}" for f in Settings.model_fields}
    env = SERVICES[name]["environment"]
    assert set(env) <= fields, set(env) - fields


def test_dockerfile_and_dynamic_config_exist_and_match():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install" in dockerfile and "COPY packs /packs" in dockerfile
    mount = SERVICES["temporal"]["volumes"][0].split(":")[0]
    config = yaml.safe_load((REPO / mount).read_text())
    assert config["history.transferProcessorMaxPollRPS"][0]["value"] >= 1000


def test_compose_server_has_the_dev_servers_history_tuning():
    """The history-service knobs `attune up` sets (queue poll rates, timer precision) are what
    make steps fast; a compose deployment must not silently lose them."""
    from attune.engine.server import TUNING

    configured = yaml.safe_load((REPO / "deploy" / "temporal" / "dynamicconfig.yaml").read_text())
    for setting in TUNING:
        key, value = setting.split("=", 1)
        if key.startswith("history."):
            assert key in configured, key
            assert str(configured[key][0]["value"]) == value.strip('"'), key


def test_only_the_api_may_write_the_packs():
    """The builder and POST/PUT /actions, /workflows save into the pack's directory (README)."""
    for name in ATTUNE_SERVICES:
        mounts = [v for v in SERVICES[name]["volumes"] if str(v).split(":")[1] == "/packs"]
        assert len(mounts) == 1, (name, mounts)
        assert mounts[0].endswith(":ro") == (name != "api"), (name, mounts)
