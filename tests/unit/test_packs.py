"""Good packs load: the bundled `core` and `examples` packs, the loader API, YAML positions."""

from __future__ import annotations

import contextlib
import json as _json
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from attune.packs import (
    Catalog,
    PackError,
    Problem,
    load_pack,
    load_packs,
    parse_workflow_text,
    validate_path,
)
from attune.packs.problems import Reporter
from attune.packs.yaml_marks import YamlError, load_yaml
from attune.runtimes.output import encode_parameters, parse_output

PACKS = Path(__file__).resolve().parents[2] / "packs"
EXAMPLE_WORKFLOWS = {"single_echo", "sequence", "parallel_join", "with_items", "retry", "loop",
                     "nested", "error_handling", "timeout", "legacy_forms", "hello_standalone",
                     "fast_chain", "attune_style", "approval"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_packs(PACKS)


def test_bundled_packs_load(catalog: Catalog) -> None:
    assert set(catalog.packs) == {"core", "examples"}
    assert set(catalog.packs["core"].actions) == {"core.echo", "core.noop", "core.sleep", "core.fail",
                                                  "core.http_request", "core.ask"}
    workflows = {a.name for a in catalog.actions() if a.is_workflow}
    assert workflows == EXAMPLE_WORKFLOWS
    scripts = {a.ref: a.runner for a in catalog.actions() if not a.is_workflow}
    assert scripts["examples.node_fibo"] == "nodejs"  # `runner_type: node` alias
    assert scripts["examples.count_words"] == "shell"  # `runner_type: bash` alias
    assert scripts["examples.fibo"] == "python"


def test_examples_show_each_construct(catalog: Catalog) -> None:
    def wf(name: str):
        return catalog.action(f"examples.{name}").workflow

    assert wf("parallel_join").task("combine").join == "all"
    items = wf("with_items").task("batches")
    assert (items.with_items, items.batch_size, items.concurrency) == ("{{ parameters.names }}", 2, 3)
    retry = wf("retry").task("flaky").retry
    assert (retry.count, retry.backoff, retry.delay_before(2)) == (3, "exponential", 0.4)
    assert wf("timeout").task("slow").timeout == 1
    assert [t.when for t in wf("timeout").task("slow").next] == ["{{ succeeded() }}", "{{ timed_out() }}"]
    assert catalog.action(wf("nested").task("child").action).is_workflow
    assert wf("loop").task("fix").next[0].do == ["check"]  # the back edge
    standalone = catalog.action("examples.hello_standalone")
    assert standalone.label and set(standalone.parameters) == {"name"}
    assert standalone.workflow_file == "workflows/hello_standalone.workflow.yaml"


def test_every_bundled_file_validates_clean() -> None:
    paths = [PACKS, *PACKS.iterdir(), *PACKS.glob("*/actions/*.yaml"),
             *PACKS.glob("*/actions/workflows/*")]
    assert len(paths) > 30
    assert {str(p): validate_path(p) for p in paths} == {str(p): [] for p in paths}


def test_a_misnamed_pack_yaml_is_named(tmp_path: Path) -> None:
    """A pack whose manifest was called pack.yml read only "not a pack directory"."""
    (tmp_path / "pack.yml").write_text("ref: p\n")
    assert [p.message for p in validate_path(tmp_path)] == [
        "not a pack directory (no pack.yaml) and no packs in it (its pack.yml must be named pack.yaml)"]


def test_single_pack_resolves_sibling_packs(tmp_path: Path) -> None:
    pack = load_pack(PACKS / "examples")
    assert pack.ref == "examples" and Path(pack.path).is_absolute()
    # Without `core` next to it, its workflows' core.* tasks are unknown actions.
    shutil.copytree(PACKS / "examples", tmp_path / "examples")
    with pytest.raises(PackError) as err:
        load_pack(tmp_path / "examples")
    assert "unknown action 'core.echo'" in {p.message for p in err.value.problems}
    core = {a.ref for a in load_pack(PACKS / "core").actions.values()}
    assert load_pack(tmp_path / "examples", known_actions=core).ref == "examples"


def test_catalog_lookup_and_closure(catalog: Catalog) -> None:
    assert catalog.action("core.echo").parameters["message"].type == "string"
    with pytest.raises(KeyError, match="unknown action 'core.nope'"):
        catalog.action("core.nope")
    assert "core.echo" in catalog and "core.nope" not in catalog
    assert set(catalog.closure("examples.nested")) == {
        "examples.nested", "examples.sequence", "examples.fibo", "examples.py_echo", "core.echo"}
    assert set(catalog.closure("core.noop")) == {"core.noop"}


def test_parse_workflow_text_clean_and_parameter_checks() -> None:
    text = 'version: "1"\ntasks:\n  - name: a\n    action: core.echo\n    input: {m: "{{ parameters.x }}"}\n'
    definition, problems = parse_workflow_text(text, parameters={"x": {"type": "string"}})
    assert problems == [] and definition is not None and definition.tasks[0].input == {"m": "{{ parameters.x }}"}
    definition, problems = parse_workflow_text(text, "t.yaml", parameters={})
    assert definition is None
    assert [str(p) for p in problems] == ["t.yaml:5:17: unknown parameter 'x' in {{ parameters.x }} (task 'a' input.m)"]


def test_pack_error_lists_problems_one_per_line() -> None:
    error = PackError([Problem("b.yaml", 2, 1, "second"), Problem("a.yaml", 3, 4, "first")])
    assert str(error) == "a.yaml:3:4: first\nb.yaml:2:1: second"


# ---- YAML positions ----------------------------------------------------------------------------

def test_yaml_marks_keys_values_and_string_columns() -> None:
    data, marks = load_yaml('a:\n  - x: 1\n    y: "q {{ z }}"\n  - plain {{ w }}\n')
    assert data == {"a": [{"x": 1, "y": "q {{ z }}"}, "plain {{ w }}"]}
    assert (marks.key(("a", 0, "y")).line, marks.key(("a", 0, "y")).column) == (3, 5)
    value = marks.value(("a", 0, "y"))
    assert (value.line, value.column, value.content_column) == (3, 8, 9)  # inside the quotes
    assert marks.value(("a", 1)).content_column == 5
    assert marks.value(("a", 0, "missing")) == marks.value(("a", 0))  # nearest ancestor


def test_yaml_merge_keys_and_errors() -> None:
    data, _ = load_yaml("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\n")
    assert data["use"] == {"x": 1, "y": 3}
    data, marks = load_yaml("a: 1\nb:\n  c: 1\n  c: 2\n")  # listed, not raised: the file is checked on
    assert data == {"a": 1, "b": {"c": 1}}
    assert [(m.line, m.column, path, key) for m, path, key in marks.duplicates] == [(4, 3, ("b",), "c")]
    assert load_yaml("d: 2024-01-02")[0] == {"d": "2024-01-02"}  # JSON data, not a date object


YAML_12 = """ref: on
default: NO
enum: [yes, no, y, n, off, On]
flags: [true, false, True, FALSE]
time: 10:30
mode: 0755
octal: 0o755
hex: 0x1F
big: 1_000
sci: 1e3
none: ~
"""
READ_AS_12 = {"ref": "on", "default": "NO", "enum": ["yes", "no", "y", "n", "off", "On"],
              "flags": [True, False, True, False], "time": "10:30", "mode": 755, "octal": 493, "hex": 31,
              "big": "1_000", "sci": 1000.0, "none": None}


def test_yaml_reads_as_yaml_1_2_as_attune_does() -> None:
    """PyYAML is YAML 1.1: `ref: on` was True, `default: NO` (Norway) False, `10:30` was 630 and
    `0755` octal. Attune's serde_yaml reads YAML 1.2, where those stay what they say: packs,
    workflow files and actions' yaml output alike."""
    assert load_yaml(YAML_12)[0] == READ_AS_12
    assert parse_output(YAML_12, "yaml") == READ_AS_12


def test_yaml_aliases_that_never_finish_are_refused() -> None:
    with pytest.raises(YamlError, match="a recursive alias"):
        load_yaml("a: &x [1, *x]\n")
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True))
    with pytest.raises(YamlError, match="too many nodes once aliases expand"):
        load_yaml(laughs)


def test_a_value_nested_deeper_than_runs_can_carry_is_a_load_error_at_its_place() -> None:
    """`vars: {v: [[[...]]]}` 200 levels deep passed validation; the run then stayed
    `scheduled` for good, its workflow task failing ("recursion limit exceeded")."""
    shallow = "vars:\n  v: " + "[" * 97 + "1" + "]" * 97 + "\n"
    assert load_yaml(shallow)[0]["vars"]["v"] is not None
    deep = "vars:\n  v: " + "[" * 200 + "1" + "]" * 200 + "\n"
    with pytest.raises(YamlError) as found:
        load_yaml(deep)
    assert (found.value.line, found.value.column) == (2, 104)
    assert found.value.message == "nested more than 100 levels deep: values may be nested at most 100 levels"


@pytest.mark.parametrize("written", [".inf", "-.Inf", ".nan", "1e999"])
def test_a_number_that_is_not_finite_is_a_load_error_at_its_place(written: str) -> None:
    """`default: .inf` or `vars: {limit: 1e999}` read as Infinity, which JSON (Temporal's
    payloads, the records) cannot carry: the value reached the run as null."""
    rep = Reporter("w.yaml")
    data = rep.load(f"vars:\n  ok: 1.5\n  limit: {written}\n  again: {written}\n")
    assert data["vars"] == {"ok": 1.5, "limit": None, "again": None}  # read on: every one is said
    assert [(p.line, p.column) for p in rep.problems] == [(3, 10), (4, 10)]
    assert rep.problems[0].message.startswith(f"{written} is not a finite number: values travel as JSON")
    assert load_yaml(f"limit: '{written}'\n")[0] == {"limit": written}  # quoted: the text


# ---- the bundled scripts run -------------------------------------------------------------------

INTERPRETERS = {"shell": ["bash"], "python": ["python3", "-u"], "nodejs": ["node"]}
SMOKE_PARAMS = {"examples.flaky": {"key": "smoke", "failures": 0},
                "examples.at_least": {"value": 3, "minimum": 2}}


@pytest.mark.parametrize("ref", sorted(a.ref for a in load_packs(PACKS).actions()
                                      if not a.is_workflow
                                      and a.ref not in ("core.http_request", "core.ask")))
def test_script_actions_run_with_their_defaults(catalog: Catalog, ref: str) -> None:
    """(core.http_request needs a server: see the tests at the end of this file; core.ask is
    carried out by the orchestrator, see tests/service/test_run_control.py.)"""
    action = catalog.action(ref)
    params = {n: s.default for n, s in action.parameters.items() if s.default is not None}
    params.update(SMOKE_PARAMS.get(ref, {}))
    pack_dir = Path(catalog.packs[action.pack_ref].path)
    proc = subprocess.run([*INTERPRETERS[action.runner], str(pack_dir / "actions" / action.entry_point)],
                          input=encode_parameters(params, action.parameter_format), cwd=pack_dir,
                          capture_output=True, timeout=30)
    expect_failure = ref == "core.fail"
    assert (proc.returncode != 0) == expect_failure, proc.stderr.decode()
    if expect_failure:
        assert proc.stderr.decode().strip() == "core.fail: failing on purpose"
    elif action.output_format == "json":
        assert isinstance(parse_output(proc.stdout.decode(), "json"), dict)
    if ref == "examples.fibo":
        assert parse_output(proc.stdout.decode(), "json") == {"n": 10, "result": 55}


# ---- core.http_request against a real local HTTP server -----------------------------------------



class _Handler(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def _reply(self, status: int, body: bytes, content_type: str = "application/json",
               extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.seen.append({"method": self.command, "path": self.path, "body": body,
                          "headers": dict(self.headers.items())})
        if self.path.startswith("/echo"):
            self._reply(200, _json.dumps({"method": self.command, "path": self.path, "body": body,
                                          "auth": self.headers.get("Authorization"),
                                          "type": self.headers.get("Content-Type")}).encode(),
                        extra={"X-Served-By": "test"})
        elif self.path == "/text":
            self._reply(200, b"plain words", "text/plain")
        elif self.path == "/missing":
            self._reply(404, b'{"error": "no such thing"}')
        elif self.path == "/moved":
            self._reply(302, b"", extra={"Location": "/echo/after-redirect"})
        elif self.path == "/slow":
            time.sleep(3)
            self._reply(200, b"{}")
        elif self.path == "/big":
            self._reply(200, b"x" * 200_000, "text/plain")

    def _serve(self) -> None:
        # The client may give up first (the timeout and size-limit cases).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._handle()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve


@pytest.fixture(scope="module")
def http_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def http_request(catalog: Catalog, **params) -> tuple[int, dict | None, str]:
    """Run core.http_request as the runner would: defaults applied, JSON on stdin."""
    from attune.packs.parameters import validate_parameters

    action = catalog.action("core.http_request")
    full, problems = validate_parameters(action, params)
    assert problems == []
    pack_dir = Path(catalog.packs["core"].path)
    proc = subprocess.run(["python3", str(pack_dir / "actions" / action.entry_point)],
                          input=encode_parameters(full, "json"), cwd=pack_dir, capture_output=True,
                          timeout=30)
    data = parse_output(proc.stdout.decode(), "json") if proc.stdout.strip() else None
    return proc.returncode, data, proc.stderr.decode().strip()


def test_http_request_get_parses_json_and_reports_status_headers_and_url(catalog, http_server):
    code, data, _ = http_request(catalog, url=f"{http_server}/echo", query_params={"q": "a b"})
    assert code == 0
    assert data["status_code"] == 200 and data["success"] is True
    assert data["json"] == {"method": "GET", "path": "/echo?q=a+b", "body": "", "auth": None, "type": None}
    assert _json.loads(data["body"]) == data["json"]
    assert data["headers"]["X-Served-By"] == "test" and data["url"] == f"{http_server}/echo?q=a+b"
    assert isinstance(data["elapsed_ms"], int)


def test_http_request_sends_json_body_headers_and_auth(catalog, http_server):
    for key in ("json", "json_body"):
        code, data, _ = http_request(catalog, url=f"{http_server}/echo", method="POST",
                                     **{key: {"app": "shop", "n": 2}}, headers={"X-Run": "7"},
                                     auth_type="bearer", auth_token="tok")
        assert code == 0 and data["json"]["method"] == "POST"
        assert _json.loads(data["json"]["body"]) == {"app": "shop", "n": 2}
        assert data["json"]["type"] == "application/json" and data["json"]["auth"] == "Bearer tok"
    assert _Handler.seen[-1]["headers"]["X-Run"] == "7"
    code, data, _ = http_request(catalog, url=f"{http_server}/echo", method="PUT", body="raw text",
                                 auth_type="basic", auth_username="u", auth_password="p")
    assert data["json"]["body"] == "raw text" and data["json"]["auth"] == "Basic dTpw"


def test_http_request_text_body_has_null_json(catalog, http_server):
    code, data, _ = http_request(catalog, url=f"{http_server}/text")
    assert code == 0 and data["body"] == "plain words" and data["json"] is None


def test_http_request_redirects_follow_or_stop(catalog, http_server):
    code, data, _ = http_request(catalog, url=f"{http_server}/moved")
    assert code == 0 and data["url"] == f"{http_server}/echo/after-redirect"
    code, data, error = http_request(catalog, url=f"{http_server}/moved", follow_redirects=False)
    assert code == 1 and data["status_code"] == 302 and error == f"HTTP 302 from GET {http_server}/moved"


@pytest.mark.parametrize("path, fragment", [
    ("/missing", "HTTP 404 from GET {server}/missing"),
    ("/slow", "request timed out after 1 s"),
    ("/big", "the response body is larger than max_response_bytes (100000)"),
])
def test_http_request_failures_exit_1_with_the_reason(catalog, http_server, path, fragment):
    code, data, error = http_request(catalog, url=f"{http_server}{path}", timeout=1)
    assert code == 1 and fragment.format(server=http_server) in error
    assert data is not None and data["success"] is False  # the result is still on stdout
    if path == "/missing":
        assert data["status_code"] == 404 and data["json"] == {"error": "no such thing"}


def test_http_request_connection_refused(catalog):
    code, data, error = http_request(catalog, url="http://127.0.0.1:9/nothing", timeout=2)
    assert code == 1 and error.startswith("could not connect:") and data["status_code"] == 0


def test_http_request_schema_refuses_bad_parameters(catalog):
    from attune.packs.parameters import validate_parameters

    _, problems = validate_parameters(catalog.action("core.http_request"),
                                      {"method": "FETCH", "timeout": 0})
    assert sorted(p.path for p in problems) == ["method", "timeout", "url"]


# ---- Attune's keys and spellings (spec §1, issue 10) ----------------------------------------------

def _pack(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "packs" / "ops"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_older_spellings_and_pack_metadata(tmp_path: Path) -> None:
    root = _pack(tmp_path, {
        "pack.yaml": 'name: ops\nversion: "2.0.0"\nenabled: false\nsystem: true\nis_standard: true\n'
                     "meta: {python_dependencies: [requests]}\ntesting: {enabled: true}\n"
                     "runtime_deps: [bash, python3, node]\n",
        "actions/run.yaml": "name: run\nrunner_type: bash\nentry_point: run.sh\ntimeout: 5\n"
                            "out_schema: {ok: {type: boolean}}\n",
        "actions/run.sh": "echo '{}'\n",
        "actions/workflows/flow.workflow.yaml": ('name: flow\nversion: "1"\n'
                                                 "output_schema: {a: {type: string}}\n"
                                                 "tasks:\n  - {name: a, action: ops.run}\n"),
        "workflows/old.yaml": 'version: "1"\ntasks:\n  - {name: a, action: ops.run}\n',
    })
    pack = load_pack(root)
    assert (pack.ref, pack.version, pack.system) == ("ops", "2.0.0", True)
    assert pack.python_dependencies == ["requests"]
    run = pack.actions["ops.run"]
    assert (run.timeout_seconds, run.output, run.enabled) == (5, {"ok": {"type": "boolean"}}, False)
    assert pack.actions["ops.flow"].output == {"a": {"type": "string"}}
    assert pack.actions["ops.old"].workflow_file == "../workflows/old.yaml"


def test_runner_type_aliases_python3_and_node_js(tmp_path: Path) -> None:
    """§1 runner_type `python|python3` → python, `node|nodejs|node.js` → nodejs."""
    root = _pack(tmp_path, {
        "pack.yaml": 'ref: ops\nversion: "1.0.0"\n',
        "actions/py.yaml": "ref: ops.py\nrunner_type: python3\nentry_point: a.py\n",
        "actions/js.yaml": "ref: ops.js\nrunner_type: node.js\nentry_point: a.js\n",
        "actions/a.py": "print(1)\n", "actions/a.js": "console.log(1)\n",
    })
    actions = load_pack(root).actions
    assert (actions["ops.py"].runner, actions["ops.js"].runner) == ("python", "nodejs")


def test_parameters_object_form_and_json_schema_keywords_are_enforced(tmp_path: Path) -> None:
    from attune.packs.parameters import validate_parameters

    root = _pack(tmp_path, {
        "pack.yaml": "ref: ops\n",
        "actions/run.yaml": (
            "ref: ops.run\nrunner_type: shell\nentry_point: run.sh\nparameters:\n  type: object\n"
            "  properties:\n    hosts: {type: array, items: {type: string}, minItems: 1, uniqueItems: true}\n"
            "    name: {type: string, pattern: '^[a-z]+$', maxLength: 8}\n"
            "    mail: {type: string, format: email}\n"
            "    opts: {type: object, properties: {n: {type: integer}}, additionalProperties: false}\n"
            "  required: [hosts]\n"),
        "actions/run.sh": "true\n",
    })
    action = load_pack(root).actions["ops.run"]
    assert action.parameters["hosts"].required and not action.parameters["name"].required
    ok, problems = validate_parameters(action, {"hosts": ["a"], "name": "web", "mail": "a@b.io",
                                                "opts": {"n": 1}})
    assert problems == []
    _, problems = validate_parameters(action, {"hosts": [], "name": "Web01", "mail": "nope",
                                               "opts": {"n": "x", "m": 1}})
    assert sorted((p.path, p.message) for p in problems) == [
        ("hosts", "[] should be non-empty"), ("mail", "\"nope\" is not a valid email"),
        ("name", "\"Web01\" does not match the pattern \"^[a-z]+$\""),
        ("opts", "Additional properties are not allowed ('m' was unexpected)"),
        ("opts.n", "\"x\" is not of type integer")]
    assert [p.detail() for p in validate_parameters(action, {})[1]] == [
        {"path": "hosts", "message": "required parameter 'hosts' is missing"}]


def test_runtime_checks() -> None:
    from attune.packs.interpreters import RuntimeCheckError, check_runtime, check_runtime_version

    for name in ("shell", "bash", "python3", "python", "nodejs", "node"):
        assert check_runtime(name).version
    with pytest.raises(RuntimeCheckError, match="runtime 'native' is not available here"):
        check_runtime("native")
    found = check_runtime_version("python", ">=3.9")
    assert found.path and found.version.startswith("3.")
    check_runtime_version("python", found.version.rsplit(".", 1)[0])  # "3.11" means 3.11.*
    with pytest.raises(RuntimeCheckError, match=r"is not met: node here is \d+"):
        check_runtime_version("nodejs", "<1")
    # Checked against the interpreter the actions run on (a root worker skips a python3 the
    # action user cannot run, such as pyenv's under /root), not the first python3 on PATH.
    from attune.runtimes.environments import system_python

    assert found.path == system_python()


def test_permission_refs_normalise(tmp_path: Path) -> None:
    text = ('version: "1"\ntasks:\n'
            '  - {name: a, action: x.y, permission_set_refs: null}\n'
            '  - {name: b, action: x.y, permission_set_ref: standard}\n'
            '  - {name: c, action: x.y, permission_set_refs: [one, two, one]}\n'
            '  - {name: d, action: x.y, permission_set_refs: "{{ workflow.sets }}"}\n'
            '  - {name: e, action: x.y}\n'
            "vars: {sets: [s]}\n")
    definition, problems = parse_workflow_text(text)
    assert problems == []
    assert [t.permission_set_refs for t in definition.tasks] == [
        [], ["standard"], ["one", "two"], "{{ workflow.sets }}", None]


def test_each_missing_required_parameter_is_one_problem(tmp_path: Path) -> None:
    """jsonschema reports each missing name as an error naming the whole `required` list: two
    missing parameters were four problems, each field's message shown twice in the web UI."""
    from attune.packs.parameters import validate_parameters

    root = _pack(tmp_path, {
        "pack.yaml": "ref: ops\n",
        "actions/run.yaml": ("ref: ops.run\nrunner_type: shell\nentry_point: run.sh\nparameters:\n"
                             "  name: {type: string, required: true}\n"
                             "  password: {type: string, required: true, secret: true}\n"
                             "  count: {type: integer, required: true}\n"),
        "actions/run.sh": "true\n",
    })
    action = load_pack(root).actions["ops.run"]
    _, problems = validate_parameters(action, {"count": "x"})
    assert [(p.path, p.message) for p in problems] == [
        ("name", "required parameter 'name' is missing"),
        ("password", "required parameter 'password' is missing"),
        ("count", "\"x\" is not of type integer")]


def test_pack_config_is_checked_against_its_conf_schema(tmp_path) -> None:
    """StackStorm's flat conf_schema, as Attune's core pack writes it: each config value checked
    (file:line), defaults filled in, keys the schema does not name kept."""
    (tmp_path / "actions").mkdir()
    pack_yaml = tmp_path / "pack.yaml"
    pack_yaml.write_text('ref: cfg\nversion: "1.0"\nconfig:\n  retries: three\n  extra: kept\n'
                         "conf_schema:\n  retries: {type: integer}\n  port: {type: integer, default: 443}\n"
                         "  region: {type: string, required: true}\n")
    with pytest.raises(PackError) as err:
        load_pack(tmp_path)
    assert [(p.line, p.column, p.message) for p in err.value.problems] == [
        (4, 12, "config 'retries': \"three\" is not of type integer"),
        (9, 11, "required config key 'region' is missing")]
    pack_yaml.write_text(pack_yaml.read_text().replace("three", "3"))
    pack_yaml.write_text(pack_yaml.read_text().replace("  extra: kept\n", "  extra: kept\n  region: eu\n"))
    assert load_pack(tmp_path).config == {"retries": 3, "extra": "kept", "region": "eu", "port": 443}
