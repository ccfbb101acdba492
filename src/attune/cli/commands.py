"""`attune` command line: the embedded stack, workers, running and validating workflows.

Exit codes (interfaces.md): 0 completed / valid, 1 failed|timeout|cancelled / problems found,
2 usage or connection error (message on stderr).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.text import Text

from attune import logs
from attune.cli.output import EXIT_INTERRUPTED, install_stdout, make_console, usable_columns, visible, write
from attune.problems import nested_json
from attune.runtimes.lifecycle import watch_parent
from attune.runtimes.models import RUNTIMES
from attune.settings import ORCHESTRATOR, Settings, SettingsError

ROLES = (*RUNTIMES, ORCHESTRATOR)  # `attune worker --runtime`


def _flags_take_no_value(params: list[Any]) -> list[Any]:
    """Help shows a flag (--async, --help) as it is typed, not as `--async <bool>`."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    return params


class _Command(typer.core.TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_take_no_value(super().get_params(ctx))


class _Group(typer.core.TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _flags_take_no_value(super().get_params(ctx))


app = typer.Typer(add_completion=False, no_args_is_help=True, cls=_Group,
                  help="Attune on Temporal: run packs of actions and YAML workflows.")
execution_app = typer.Typer(no_args_is_help=True, cls=_Group, help="Read and control executions.")
pack_app = typer.Typer(no_args_is_help=True, cls=_Group, help="Manage packs on a running API.")
app.add_typer(execution_app, name="execution")
app.add_typer(pack_app, name="pack")
inquiry_app = typer.Typer(no_args_is_help=True, cls=_Group, help="Answer human approvals (inquiries).")
app.add_typer(inquiry_app, name="inquiry")
err = make_console(stderr=True)
out = make_console()

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

TemporalOpt = typer.Option(None, "--temporal-address", help="Temporal frontend (env ATTUNE_TEMPORAL_ADDRESS)")
PacksOpt = typer.Option(None, "--packs", metavar="DIR",
                        help="Packs directory (env ATTUNE_PACKS_DIR, default ./packs)")
ApiOpt = typer.Option(None, "--api-url", help="API address (env ATTUNE_API_URL)")
def _output_format(value: str) -> str:
    if value not in ("table", "json", "yaml"):  # every command, not only `run`, says so (exit 2)
        raise typer.BadParameter(f"must be table, json or yaml, not {value!r}")
    return value


OutputOpt = typer.Option("table", "-o", "--output", help="table | json | yaml", callback=_output_format)
# `run` and `execution rerun` submit alike: both wait for the run unless told not to.
AsyncOpt = typer.Option(False, "--async", help="Print the execution id and return")


STATE_DIR_HELP = ("Where the stack keeps its state: Temporal's database, records, logs, secret key "
                  "(env ATTUNE_STATE_DIR; default ./.attune)")


def fail_usage(message: str) -> NoReturn:
    err.print(Text.assemble(("error:", "red"), f" {message}"))
    raise typer.Exit(EXIT_USAGE)


MAX_ID = 2**63 - 1  # the records' ids are 64-bit integers


def _id_argument(noun: str, metavar: str) -> Any:
    """A required id argument: the API's routes take a positive integer (`/executions/{id:int}`,
    `/inquiries/{id:int}`). Anything else is refused before any request, exit 2: it was put in
    the URL as typed, so `../executions/96/cancel?` cancelled execution 96, `''` got the list."""

    def check(value: str) -> str:
        if not re.fullmatch(r"[0-9]+", value) or not 0 < int(value) <= MAX_ID:
            fail_usage(f"{metavar} must be {noun} id, a positive integer, not {value!r}")
        return str(int(value))

    return typer.Argument(..., metavar=metavar, callback=check, show_default=False,
                          help=f"The {noun.split()[-1]}'s id (a positive integer)")


ExecutionId = _id_argument("an execution", "EXECUTION_ID")
InquiryId = _id_argument("an inquiry", "INQUIRY_ID")


def serve(main: Any) -> None:
    """Run a long-lived coroutine until Ctrl-C; start-up failures are usage errors (exit 2)."""
    try:
        asyncio.run(main)
    except KeyboardInterrupt:
        pass
    except (ConnectionError, RuntimeError) as exc:
        if getattr(exc, "reported", False):  # said already, before what followed (stack.StackFailed)
            raise typer.Exit(EXIT_USAGE) from None
        fail_usage(str(exc))


def parse_params(pairs: list[str], params_json: str | None,
                 schema: Callable[[], dict[str, str] | None] | None = None,
                 option: str = "--params-json") -> dict[str, Any]:
    """`k=v` pairs over --params-json. Each value is read by its parameter's declared type
    (`schema()`: name -> type, fetched only when there are pairs): a string stays the text typed
    (`2024-01-01`, `no`, `007`), integer/number/boolean/array/object values must parse as such
    or it is a usage error naming the parameter. Undeclared names, or no schema at all: JSON if
    the text is JSON (3, true, [1]), else the text."""
    from attune.runtimes.safety import loads_json, non_finite, not_finite_detail

    params: dict[str, Any] = {}
    if params_json:
        try:
            params = loads_json(params_json)
        except json.JSONDecodeError as exc:
            fail_usage(f"{option} is not valid JSON: {exc}")
        if not isinstance(params, dict):
            fail_usage(f"{option} must be a JSON object")
    types = (schema() or {}) if pairs and schema else {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail_usage(f"parameter {pair!r} is not of the form key=value")
        if key not in types and types.get(key.split(".")[0]) == "object":
            top, _, member = key.partition(".")
            fail_usage(f"unknown parameter '{key}': a dotted key is not a path into object "
                       f"parameter '{top}'; give the object as JSON, {top}='{nested_json(member)}', "
                       f"or use {option}")
        try:
            params[key] = typed_value(value, types.get(key))
        except ValueError as exc:
            fail_usage(f"parameter '{key}' {exc}")
    from attune.packs.parameters import data_problems  # not at import: `attune --help` stays quick

    for problem in data_problems(params)[:1]:  # it could not even be sent as JSON
        fail_usage(f"parameter '{problem.path}' {problem.message}")
    for path, written in non_finite(params, limit=1):  # JSON has no NaN: it would not be sent
        fail_usage(f"parameter '{path}' {not_finite_detail(written)}")
    return params


_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}


def typed_value(text: str, kind: str | None) -> Any:
    """One `k=v` value read as a parameter of type `kind` (None: undeclared)."""
    if kind == "string":
        return text
    if kind == "integer":
        if re.fullmatch(r"\s*[+-]?\d+\s*", text):
            return int(text)
        try:  # 4.0 and 1e2 are integers to JSON Schema, as over REST and in --params-json
            number = float(text)
        except ValueError:
            number = math.nan
        if math.isfinite(number) and number.is_integer() and abs(number) < 2**53:
            return int(number)
        raise ValueError(f"is an integer: cannot read {text!r} as one"
                         + (" exactly: write it in digits" if math.isfinite(number) and number.is_integer() else ""))
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"is a number: cannot read {text!r} as one") from None
        if not math.isfinite(number):
            raise ValueError(f"is a number: {text!r} is not a finite number")
        return int(text) if re.fullmatch(r"\s*[+-]?\d+\s*", text) else number
    if kind == "boolean":
        if text.strip().lower() not in _BOOLEANS:
            raise ValueError(f"is a boolean: use true or false, not {text!r}")
        return _BOOLEANS[text.strip().lower()]
    from attune.runtimes.safety import loads_json  # keeps `1e999` as written, for the message

    if kind in ("array", "object"):
        try:
            value = loads_json(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, list if kind == "array" else dict):
            example = '["a", "b"]' if kind == "array" else '{"key": "value"}'
            raise ValueError(f"is {'an array' if kind == 'array' else 'an object'}: give it as "
                             f"JSON, e.g. {example}")
        return value
    try:
        return loads_json(text)
    except json.JSONDecodeError:
        return text


def action_schema(settings: Settings, action_ref: str, direct: bool) -> dict[str, str] | None:
    """name -> declared type of `action_ref`'s parameters: from the local packs with --direct,
    else from the API (GET /actions/{ref}). None when it cannot be read (the run reports why)."""
    if direct:
        from attune.packs.loader import PackError, load_packs

        try:
            params = load_packs(settings.packs_dir).action(action_ref).parameters
        except (PackError, KeyError):
            return None
        return {name: spec.type for name, spec in params.items()}
    from attune.cli.api_client import Api, ApiError, route

    try:
        body = Api(settings).call("GET", route("actions", action_ref))
    except (ApiError, ConnectionError):
        return None
    params = (body.get("data") or {}).get("parameters") or {}
    return {name: spec.get("type", "string") for name, spec in params.items() if isinstance(spec, dict)}


# ---- validate ------------------------------------------------------------------------------------

@app.command()
def validate(
    path: Path = typer.Argument(..., help="Pack directory, action YAML or workflow file"),
    packs: str | None = typer.Option(
        None, "--packs", metavar="DIR",
        help="The packs directory whose packs' actions it may use (core.* and others) (default: "
             "ATTUNE_PACKS_DIR, else ./packs, when it exists)"),
) -> None:
    """Check a pack, action or workflow; print file:line:column: message per problem."""
    from attune.packs.loader import OtherPacksUnknown, installed_packs, validate_path

    if not path.exists():
        fail_usage(f"{path}: no such file or directory")
    installed = packs or Settings.load().packs_dir
    if packs and not Path(packs).is_dir():
        fail_usage(f"--packs {packs}: no such directory")
    known, versions = installed_packs(installed)
    if not Path(installed).is_dir():  # said, not silently "ok" for what could not be checked
        err.print(f"note: no installed packs at {installed}: actions of other packs (core.*) are not "
                  "checked; give --packs or ATTUNE_PACKS_DIR", highlight=False)
        known = OtherPacksUnknown(known)
    problems = validate_path(path, known, versions)
    for problem in problems:  # they quote the file: a string in it may hold an ESC
        write(out, visible(str(problem)) + "\n")
    if problems:
        err.print(f"{len(problems)} problem(s) found", highlight=False)
        raise typer.Exit(EXIT_FAILED)
    write(out, visible(f"{path}: ok") + "\n")


# ---- workers and the embedded stack --------------------------------------------------------------

@app.command()
def worker(
    runtime: str = typer.Option(..., "--runtime", help=f"{' | '.join(ROLES)}"),
    temporal_address: str | None = TemporalOpt,
    packs: str | None = typer.Option(
        None, "--packs", metavar="DIR",
        help="Run each pack's actions from DIR/<pack> when it is there, not from the path it was "
             "registered at (env ATTUNE_PACKS_DIR; default: the registered paths)"),
    concurrency: int = typer.Option(
        100, "--concurrency", min=1,
        help="Max actions at once in this worker (orchestrator: `local: true` actions)"),
    queue_prefix: str | None = typer.Option(
        None, "--queue-prefix", help="Task queues <prefix>-<runtime> (env ATTUNE_QUEUE_PREFIX)"),
    sandbox: bool | None = typer.Option(
        None, "--sandbox/--no-sandbox",
        help="Orchestrator: run workflow code in Temporal's sandbox (env ATTUNE_WORKFLOW_SANDBOX, default off)"),
    metrics_bind: str | None = typer.Option(
        None, "--metrics-bind", metavar="HOST:PORT",
        help="Serve Temporal SDK metrics for Prometheus at http://HOST:PORT/metrics (env ATTUNE_METRICS_BIND)"),
) -> None:
    """Run one worker: a runtime pool member or the orchestrator. Scale by starting more."""
    from attune.cli.workers import check_bind, run_workers

    if runtime not in ROLES:
        fail_usage(f"--runtime must be one of {', '.join(ROLES)}, not {runtime!r}")
    settings = Settings.load(temporal_address=temporal_address, queue_prefix=queue_prefix,
                             workflow_sandbox=sandbox, metrics_bind=metrics_bind)
    if settings.metrics_bind and (why := check_bind(settings.metrics_bind)):
        fail_usage(f"--metrics-bind {why}")
    named = "--packs" if packs is not None else "ATTUNE_PACKS_DIR"
    if packs is None and "packs_dir" in settings.model_fields_set:  # set, not the ./packs default
        packs = settings.packs_dir
    if packs is not None and not Path(packs).is_dir():
        fail_usage(f"{named} {packs}: no such directory")
    logs.configure(settings.log_level)
    _check_secret_key(settings)
    watch_parent()  # started by `attune up`: stop with it, also where no death signal exists
    serve(run_workers(settings, [runtime], packs_root=packs, concurrency=concurrency))


@app.command()
def up(
    packs: str | None = PacksOpt,
    state_dir: str | None = typer.Option(None, "--state-dir", help=STATE_DIR_HELP),
    port: int | None = typer.Option(
        None, "--temporal-port", min=1, max=65535,
        help="(env: the port of ATTUNE_TEMPORAL_ADDRESS, default 7233)"),
    ui_port: int | None = typer.Option(None, "--ui-port", min=1, max=65535,
                                       help="(env ATTUNE_TEMPORAL_UI_PORT, default 8233)"),
    api_port: int | None = typer.Option(None, "--api-port", min=1, max=65535,
                                        help="(env ATTUNE_API_PORT, default 8000)"),
    no_api: bool = typer.Option(False, "--no-api", help="Do not start the REST API"),
    demo: str | None = typer.Option(None, "--demo", help="Run this action once the stack is up"),
    metrics_bind: str | None = typer.Option(
        None, "--metrics-bind", metavar="HOST:PORT",
        help="Workers serve Temporal SDK metrics for Prometheus: the orchestrator at PORT, then "
             "shell, python, nodejs at PORT+1..3 (env ATTUNE_METRICS_BIND)"),
) -> None:
    """Start the embedded stack: Temporal dev server, orchestrator, one worker per runtime, API."""
    from attune.api.preflight import check_database
    from attune.cli.workers import check_bind
    from attune.stack import ROLES as STACK_ROLES
    from attune.stack import run_stack

    settings = Settings.load(packs_dir=packs, state_dir=state_dir, api_port=api_port,
                             temporal_ui_port=ui_port, metrics_bind=metrics_bind)
    named = "--packs" if packs is not None else "ATTUNE_PACKS_DIR" if os.environ.get("ATTUNE_PACKS_DIR") else None
    if named and not Path(settings.packs_dir).is_dir():  # the default ./packs may be absent
        fail_usage(f"{named} {settings.packs_dir}: no such directory")
    if not no_api and (why := check_database(settings)):  # said here, not only in api.log
        fail_usage(why)
    if port is None:  # flags over the environment over the default, as for every other setting
        port = _port_of(settings.temporal_address, "ATTUNE_TEMPORAL_ADDRESS")
    settings.temporal_address, ui_port = f"127.0.0.1:{port}", settings.temporal_ui_port
    if settings.metrics_bind and (why := check_bind(settings.metrics_bind, len(STACK_ROLES))):
        fail_usage(f"--metrics-bind {why}")
    if not no_api:
        settings.serving_the_api()  # its address follows its port unless ATTUNE_API_URL says
    serve(run_stack(settings, port=port, ui_port=ui_port, with_api=not no_api, console=out,
                    demo=demo, err=err))


def _port_of(address: str, name: str) -> int:
    """The port of a `host:port` address: the embedded server listens on it, on 127.0.0.1."""
    text = address.rpartition(":")[2]
    if not text.isdigit() or not 0 < int(text) < 65536:
        fail_usage(f"{name}={address!r}: not host:port (a port from 1 to 65535)")
    return int(text)


@app.command()
def down(
    state_dir: str | None = typer.Option(None, "--state-dir", help=STATE_DIR_HELP),
) -> None:
    """Stop the stack `attune up` recorded in the state directory, also if `attune up` itself died."""
    from attune.stack_record import read_record, stop_recorded

    state = Path(Settings.load(state_dir=state_dir).state_dir).resolve()
    if read_record(state) is None:
        out.print(f"no stack recorded in {state}", highlight=False)
        return
    stopped = stop_recorded(state)
    for line in stopped:
        out.print(f"stopped {line}", highlight=False)
    if not stopped:
        out.print(f"the stack recorded in {state} was not running", highlight=False)


def _check_secret_key(settings: Settings) -> None:
    """The API and every worker exit 2 at start with a key that cannot be used, naming its
    source (ATTUNE_SECRET_KEY itself is checked with the other settings)."""
    from attune.secrets import key_problem

    if why := key_problem(settings.state_dir):
        fail_usage(why)


# How long the API keeps an idle client connection. Uvicorn's default, 5 s, is also httpx's
# (and many clients') idle expiry: a client reusing a connection just under 5 s idle met the
# server closing it ("Server disconnected without sending a response"), once in a while under
# load (200 clients waiting on runs). Longer than any usual client expiry, as load balancers do.
API_KEEP_ALIVE_SECONDS = 65


@app.command()
def api(
    host: str | None = typer.Option(None, "--host", help="(env ATTUNE_API_HOST, default 127.0.0.1)"),
    port: int | None = typer.Option(None, "--port", min=1, max=65535,
                                    help="(env ATTUNE_API_PORT, default 8000)"),
    temporal_address: str | None = TemporalOpt,
) -> None:
    """Run the REST API alone (with its records mirror)."""
    import uvicorn

    from attune.api.app import create_app
    from attune.api.preflight import check_database, check_listen

    settings = Settings.load(api_host=host, api_port=port, temporal_address=temporal_address).serving_the_api()
    logs.configure(settings.log_level)
    # Said in one line and exit 2 (interfaces.md), not as uvicorn's startup traceback (exit 3).
    for why in (check_database(settings), check_listen(settings.api_host, settings.api_port)):
        if why:
            fail_usage(why)
    _check_secret_key(settings)
    watch_parent()
    # uvicorn's own lines (listening on, shutting down) go through the format above; a line per
    # request only at debug (the web UI polls, and rest200 would log a thousand lines).
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port,
                log_config=None, log_level=settings.log_level,
                access_log=settings.log_level == "debug", timeout_keep_alive=API_KEEP_ALIVE_SECONDS)


# ---- run -----------------------------------------------------------------------------------------

@app.command()
def run(
    action_ref: str = typer.Argument(..., help="pack.action to run"),
    params: list[str] = typer.Argument(None, help="key=value parameters"),
    params_json: str | None = typer.Option(None, "--params-json", help="Parameters as a JSON object"),
    output: str = OutputOpt,
    packs: str | None = PacksOpt,
    temporal_address: str | None = TemporalOpt,
    api_url: str | None = ApiOpt,
    direct: bool = typer.Option(False, "--direct", help="Load packs locally and talk to Temporal, not the API"),
    is_async: bool = AsyncOpt,
) -> None:
    """Run an action or workflow and wait for it, showing task progress."""
    settings = Settings.load(packs_dir=packs, temporal_address=temporal_address, api_url=api_url)
    parameters = parse_params(params or [], params_json,
                              lambda: action_schema(settings, action_ref, direct))
    if direct:
        from attune.cli.direct import run_direct_in_loop

        code = run_direct_in_loop(settings, action_ref, parameters, output=output,
                                  wait=not is_async, console=out, err=err)
    else:
        from attune.cli.api_client import run_via_api

        code = run_via_api(settings, action_ref, parameters, output=output, wait=not is_async,
                           console=out, err=err)
    raise typer.Exit(code)


# ---- executions and packs through the API ----------------------------------------------------

@execution_app.command("get")
def execution_get(execution_id: str = ExecutionId, output: str = OutputOpt, api_url: str | None = ApiOpt) -> None:
    """Show one execution."""
    from attune.cli.api_client import get_execution

    raise typer.Exit(get_execution(Settings.load(api_url=api_url), execution_id, output, out, err))


@execution_app.command("list")
def execution_list(
    status: list[str] = typer.Option(None, "--status",
                                     help="One status, or several: failed,timeout (or --status repeated)"),
    action_ref: str | None = typer.Option(None, "--action", help="exact ref or pack.*"),
    parent: int | None = typer.Option(None, "--parent", min=1, help="Its parent execution's id"),
    top_level_only: bool = typer.Option(False, "--top-level-only"),
    page: int = typer.Option(1, "--page"),
    per_page: int = typer.Option(20, "--per-page"),
    output: str = OutputOpt,
    api_url: str | None = ApiOpt,
) -> None:
    """List executions, newest first."""
    from attune.cli.api_client import list_executions

    filters = {"status": _statuses(status), "action_ref": action_ref, "parent": parent, "page": page,
               "per_page": per_page, "top_level_only": top_level_only or None}
    raise typer.Exit(list_executions(Settings.load(api_url=api_url), filters, output, out, err))


@execution_app.command("cancel")
def execution_cancel(execution_id: str = ExecutionId, output: str = OutputOpt, api_url: str | None = ApiOpt) -> None:
    """Cancel a running execution (its workflow's cancellation_policy applies)."""
    from attune.cli.api_client import control_execution

    raise typer.Exit(control_execution(Settings.load(api_url=api_url), execution_id, "cancel",
                                       output, out, err))


@execution_app.command("pause")
def execution_pause(execution_id: str = ExecutionId, output: str = OutputOpt, api_url: str | None = ApiOpt) -> None:
    """Pause a workflow and its nested runs: running tasks end, nothing new starts."""
    from attune.cli.api_client import control_execution

    raise typer.Exit(control_execution(Settings.load(api_url=api_url), execution_id, "pause",
                                       output, out, err))


@execution_app.command("resume")
def execution_resume(execution_id: str = ExecutionId, output: str = OutputOpt, api_url: str | None = ApiOpt) -> None:
    """Resume a paused workflow exactly where it stopped."""
    from attune.cli.api_client import control_execution

    raise typer.Exit(control_execution(Settings.load(api_url=api_url), execution_id, "resume",
                                       output, out, err))


@execution_app.command("rerun")
def execution_rerun(
    execution_id: str = ExecutionId,
    params: list[str] = typer.Argument(None, help="key=value parameters to change"),
    params_json: str | None = typer.Option(None, "--params-json", help="Parameters to change, as JSON"),
    from_failed: bool = typer.Option(False, "--from-failed", help="Start from the failed tasks; keep the rest"),
    output: str = OutputOpt,
    api_url: str | None = ApiOpt,
    is_async: bool = AsyncOpt,
) -> None:
    """Re-run an execution: same parameters unless changed; --from-failed keeps what succeeded.
    Waits for the new run and shows its progress, as `run` does."""
    from attune.cli.api_client import execution_action_schema, rerun_via_api

    settings = Settings.load(api_url=api_url)
    changed = parse_params(params or [], params_json,
                           lambda: execution_action_schema(settings, execution_id))
    body = {"from_failed": from_failed, **({"parameters": changed} if changed else {})}
    raise typer.Exit(rerun_via_api(settings, execution_id, body, output=output, wait=not is_async,
                                   console=out, err=err))


@execution_app.command("tail")
def execution_tail(execution_id: str = ExecutionId, output: str = OutputOpt, api_url: str | None = ApiOpt) -> None:
    """Follow an execution's tasks until it ends."""
    from attune.cli.api_client import tail_execution

    raise typer.Exit(tail_execution(Settings.load(api_url=api_url), execution_id, output, out, err))


@inquiry_app.command("list")
def inquiry_list(
    status: list[str] = typer.Option(
        None, "--status", help="pending, responded, timeout, cancelled (or several: a,b, or --status repeated)"),
    execution: int | None = typer.Option(None, "--execution", min=1,
                                         help="those asked within this execution's tree (its id)"),
    page: int = typer.Option(1, "--page"),
    per_page: int = typer.Option(20, "--per-page"),
    output: str = OutputOpt,
    api_url: str | None = ApiOpt,
) -> None:
    """List inquiries (human approvals), newest first."""
    from attune.cli.api_client import list_inquiries

    filters = {"status": _statuses(status), "execution": execution, "page": page, "per_page": per_page}
    raise typer.Exit(list_inquiries(Settings.load(api_url=api_url), filters, output, out, err))


def _statuses(given: list[str] | None) -> list[str] | None:
    """`--status a,b --status c`: every status named, in either form."""
    found = [v.strip() for option in given or [] for v in option.split(",") if v.strip()]
    return found or None


@inquiry_app.command("get")
def inquiry_get(inquiry_id: str = InquiryId, output: str = OutputOpt, api_url: str | None = ApiOpt) -> None:
    """Show one inquiry and the answer it expects."""
    from attune.cli.api_client import get_inquiry

    raise typer.Exit(get_inquiry(Settings.load(api_url=api_url), inquiry_id, output, out, err))


@inquiry_app.command("respond")
def inquiry_respond(
    inquiry_id: str = InquiryId,
    answer: list[str] = typer.Argument(None, help="key=value fields of the answer"),
    response_json: str | None = typer.Option(None, "--response-json", help="The answer as a JSON object"),
    output: str = OutputOpt,
    api_url: str | None = ApiOpt,
) -> None:
    """Answer an inquiry; values are read by its response_schema (a string stays the text typed)."""
    from attune.cli.api_client import inquiry_schema, respond_inquiry

    settings = Settings.load(api_url=api_url)
    response = parse_params(answer or [], response_json, lambda: inquiry_schema(settings, inquiry_id),
                            option="--response-json")
    raise typer.Exit(respond_inquiry(settings, inquiry_id, response, output, out, err))


@pack_app.command("register")
def pack_register(path: Path, output: str = OutputOpt, api_url: str | None = ApiOpt) -> None:
    """Load and validate a pack directory on the API, upserting its actions and workflows."""
    from attune.cli.api_client import register_pack

    # A directory here: its absolute path, symlinks kept (a pack registered through a release
    # link follows the link), which the API must see too. A relative path that is not here is
    # sent as typed: the API takes it from its packs directory (ATTUNE_PACKS_DIR), e.g. a pack
    # copied into ./packs of a compose deployment, whose API sees it at /packs/<name>.
    sent = str(path) if not path.is_absolute() and not path.exists() else str(path.absolute())
    raise typer.Exit(register_pack(Settings.load(api_url=api_url), sent, output, out, err))


for _app in (app, execution_app, pack_app, inquiry_app):  # each command's help as _Command shows it
    for _info in _app.registered_commands:
        if _info.cls in (None, typer.core.TyperCommand):
            _info.cls = _Command


def main() -> None:
    # stdout line-buffered (its lines and stderr's keep their order in one pipe), its encoding
    # errors escaped, its write errors an exit code (141 for a closed pipe, else 2): cli.output.
    install_stdout()
    if usable_columns() is None:  # COLUMNS=0 drew nothing, help included (typer's own console)
        os.environ.pop("COLUMNS", None)
    try:
        app()
        code = 0
    except SystemExit as done:
        code = exit_code(done.code)
    except SettingsError as exc:  # a bad ATTUNE_* value: say which, not a traceback
        err.print(Text.assemble(("error:", "red"), f" {exc}"))
        code = EXIT_USAGE
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    leave(code)


def exit_code(code: object) -> int:
    """The process exit status of a SystemExit's code, as the interpreter would make it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def leave(code: int) -> NoReturn:
    """Exit without the interpreter's teardown. A command that talked to Temporal leaves the
    SDK's Rust threads behind, and CPython aborts the process (SIGABRT, exit status 134 / -6)
    when one of them touches the GIL while the interpreter finalizes (temporalio/sdk-python#300):
    a finished `attune run` could report a crash instead of its own exit code. What teardown
    would still do for us is done first: atexit callbacks, logging, the standard streams."""
    try:
        atexit._run_exitfuncs()
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except SystemExit as lost:  # what was left could not be written (cli.output.Stdout)
                code = exit_code(lost.code)
    finally:
        os._exit(code)


if __name__ == "__main__":
    main()
