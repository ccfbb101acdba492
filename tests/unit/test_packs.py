"""Good packs load: the bundled `core` and `examples` packs, the loader API, YAML positions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from attune.packs import (Catalog, PackError, Problem, load_pack, load_packs, parse_workflow_text,
                          validate_path)
from attune.packs.yaml_marks import YamlError, load_yaml
from attune.runtimes.output import encode_parameters, parse_output

PACKS = Path(__file__).resolve().parents[2] / "packs"
EXAMPLE_WORKFLOWS = {"single_echo", "sequence", "parallel_join", "with_items", "retry", "loop",
                     "nested", "error_handling", "timeout", "legacy_forms", "hello_standalone",
                     "fast_chain"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_packs(PACKS)


def test_bundled_packs_load(catalog: Catalog) -> None:
    assert set(catalog.packs) == {"core", "examples"}
    assert set(catalog.packs["core"].actions) == {"core.echo", "core.noop", "core.sleep", "core.fail"}
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
    assert [str(p) for p in problems] == ["t.yaml:5:17: unknown parameter 'x' in {{ parameters.x }}"]


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
    with pytest.raises(YamlError) as err:
        load_yaml("a: 1\nb:\n  c: 1\n  c: 2\n")
    assert (err.value.line, err.value.column, err.value.message) == (4, 3, "duplicate key 'c'")
    assert load_yaml("d: 2024-01-02")[0] == {"d": "2024-01-02"}  # JSON data, not a date object


def test_yaml_aliases_that_never_finish_are_refused() -> None:
    with pytest.raises(YamlError, match="a recursive alias"):
        load_yaml("a: &x [1, *x]\n")
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg"))
    with pytest.raises(YamlError, match="too many nodes once aliases expand"):
        load_yaml(laughs)


# ---- the bundled scripts run -------------------------------------------------------------------

INTERPRETERS = {"shell": ["bash"], "python": ["python3", "-u"], "nodejs": ["node"]}
SMOKE_PARAMS = {"examples.flaky": {"key": "smoke", "failures": 0},
                "examples.at_least": {"value": 3, "minimum": 2}}


@pytest.mark.parametrize("ref", sorted(a.ref for a in load_packs(PACKS).actions() if not a.is_workflow))
def test_script_actions_run_with_their_defaults(catalog: Catalog, ref: str) -> None:
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
