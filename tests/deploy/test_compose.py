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


def _published(service: dict) -> list[str]:
    """Each `ports:` entry as the short `[host_ip:]host:container` text (long form folded in)."""
    found = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ip = f"{port['host_ip']}:" if port.get("host_ip") else ""
            found.append(f"{ip}{port.get('published', '')}:{port['target']}")
        else:
            found.append(str(port))
    return found


def test_temporal_s_frontend_is_not_published():
    """Whoever reaches the frontend can read sealed secrets and start a workflow that unseals
    them (README): the services reach it as temporal:7233 on the compose network only."""
    for name, service in SERVICES.items():
        for port in _published(service):
            assert port.rsplit(":", 1)[-1].split("/")[0] != "7233", (name, port)


def test_published_ports_listen_on_loopback_only():
    """A published port without an address binds every interface, past host firewalls (ufw)."""
    for name, service in SERVICES.items():
        for port in _published(service):
            parts = port.split(":")
            assert len(parts) == 3 and parts[0] == "127.0.0.1", (name, port)


def _required(value: str, variable: str) -> str:
    """The message of a `${VARIABLE:?message}` value: compose refuses to start without it."""
    prefix = "${" + variable + ":?"
    assert value.startswith(prefix) and value.endswith("}"), value
    return value[len(prefix):-1]


def test_the_api_requires_a_token_and_every_caller_of_it_has_one():
    """No token made every route open to whoever reaches the API; the one-shot register-packs
    calls the API too, so it must send the same token."""
    for name in ("api", "register-packs"):
        message = _required(SERVICES[name]["environment"]["ATTUNE_API_TOKEN"], "ATTUNE_API_TOKEN")
        assert ".env" in message and "python3 -c" in message, message  # says how to make one
    for name in ATTUNE_SERVICES:
        if "attune pack" in " ".join(SERVICES[name]["command"]):
            assert "ATTUNE_API_TOKEN" in SERVICES[name]["environment"], name


def test_the_secret_key_is_required_and_says_where_to_keep_it():
    for name in ATTUNE_SERVICES:
        message = _required(SERVICES[name]["environment"]["ATTUNE_SECRET_KEY"], "ATTUNE_SECRET_KEY")
        assert ".env" in message, message
