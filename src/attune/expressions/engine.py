"""Rendering of `{{ expr }}` templates (spec §6) with Jinja2's sandboxed expression compiler.

Jinja parses and compiles; this module decides the semantics: names come from an EvalContext,
unknown names / keys / tasks are errors as soon as they are used (never a silent empty value;
only `| default(v)` and `is defined` may look at them), `.field` reads dict keys only,
arithmetic is type-checked, and results are plain data. Pure: no I/O; `now()` and `uuid()` call
the host's replay-safe sources passed in the EvalContext, so it is safe inside the Temporal
workflow sandbox.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from typing import Any, NamedTuple

from jinja2 import TemplateSyntaxError, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import TemplateExpression
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .filters import FILTERS
from .functions import FUNCTIONS, MAX_BUILT_LENGTH, MAX_RANGE, host_functions, status_functions
from .values import (
    EvalFailure,
    Missing,
    NotRun,
    Tasks,
    View,
    a,
    bounded_int,
    is_number,
    lookup,
    settle,
    to_data,
    to_text,
    truthy,
    type_of,
)


class ExpressionError(Exception):
    """A template that cannot be parsed or evaluated. `expression` is the source inside {{ }}."""

    def __init__(self, expression: str, message: str):
        super().__init__(expression, message)  # both in args, so the error pickles
        self.expression = expression
        self.message = message
        self.field: str | None = None  # where in a rendered mapping ("v.x"), when it was one

    def __str__(self) -> str:
        source = f"{{{{ {self.expression} }}}}" if self.expression else "{{ }}"
        return f"cannot evaluate '{source}': {self.message}"


@dataclass
class EvalContext:
    parameters: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)  # `workflow` / `vars` / `variables`
    tasks: dict[str, Any] = field(default_factory=dict)  # task name -> latest result
    item: Any = None
    index: int | None = None
    has_item: bool = False  # item/index exist only inside a with_items task's input
    config: dict[str, Any] = field(default_factory=dict)
    system: dict[str, Any] = field(default_factory=dict)
    result: Any = None  # result(): the ended task's result
    status: str | None = None  # succeeded | failed | timed_out | cancelled
    inquiries: dict[str, Any] = field(default_factory=dict)  # task -> {"response": ...} (spec §9)
    # output_map: `task.<name>` of a task that never ran is null (spec §6 Decided).
    not_run_is_null: bool = False
    # now() / uuid(): the host's replay-safe clock and random source; None where there is none.
    clock: Callable[[], Any] | None = None
    uuid: Callable[[], str] | None = None


# --- Jinja environment -------------------------------------------------------------------


def _divide(a, b):
    # 6 / 3 is the integer 2 (not 2.0): numbers are JSON numbers, so "2" interpolates as written.
    if isinstance(a, int) and isinstance(b, int) and b and a % b == 0:
        return a // b
    return a / b


def _power(a, b):
    if abs(b) > 1024 and abs(a) > 1:
        raise EvalFailure(f"exponent {b} is too large")
    return a**b




def _bounded(result: Any) -> Any:
    """A result that JSON, the records and every reader can hold: finite, and an integer of at
    most MAX_DIGITS digits (10 ** 1000 multiplied five times once left a run's records stuck)."""
    if isinstance(result, float) and not math.isfinite(result):
        raise EvalFailure(f"the result is not a finite number ({result}): it cannot be data")
    return bounded_int(result)


_ARITHMETIC = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _divide,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": _power,
}


class _CodeGenerator(CodeGenerator):
    """`a ~ b` joins the text forms of this language (null -> "", true, JSON for lists and
    objects: `to_text`), not Python's str() ("None", "True", "{'k': 1}")."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.join_text((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator

    @staticmethod
    def join_text(values: tuple[Any, ...]) -> str:
        return "".join(to_text(value) for value in values)

    # Every arithmetic operator goes through call_binop, so "a" % x (Python formatting),
    # true + 1 and huge repetitions are refused with a clear message.
    intercepted_binops = frozenset(_ARITHMETIC)

    def getattr(self, obj, attribute):
        return lookup(obj, attribute, dotted=True)

    def getitem(self, obj, argument):
        return lookup(obj, argument)

    def call(self, context, obj, /, *args, **kwargs):
        obj = settle(obj)
        if not callable(obj):
            raise EvalFailure(f"{a(type_of(obj))} value cannot be called like a function")
        args = tuple(settle(arg) for arg in args)
        kwargs = {key: settle(value) for key, value in kwargs.items()}
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context, op, left, right):
        left, right = settle(left), settle(right)
        if is_number(left) and is_number(right):
            try:
                return _bounded(_ARITHMETIC[op](left, right))
            except ZeroDivisionError:
                raise EvalFailure("division by zero") from None
            except OverflowError:
                raise EvalFailure("the result is too large for a number") from None
        kinds = (type_of(left), type_of(right))
        if op == "+" and kinds in (("string", "string"), ("array", "array")):
            return left + right if kinds[0] == "string" else [*left, *right]
        if op == "*" and set(kinds) in ({"string", "integer"}, {"array", "integer"}):
            seq, count = (left, right) if kinds[1] == "integer" else (right, left)
            if len(seq) * count > MAX_RANGE:
                raise EvalFailure(f"repetition longer than {MAX_RANGE}")
            return seq * count if isinstance(seq, str) else list(seq) * count
        raise EvalFailure(f"cannot apply '{op}' to {kinds[0]} and {kinds[1]}")


# optimized=False: Jinja's optimizer folds constant expressions with Python's str() ('x' ~ true
# became "xTrue" at compile time); every value goes through this module's rules instead.
ENV = _Environment(undefined=Missing, autoescape=False, optimized=False)
ENV.globals.clear()  # drops Jinja's lipsum (random), cycler, joiner, namespace, dict, range
# Only the filters of filters.py: Jinja's others include randomness, raw attribute access,
# HTML helpers, and some (center, batch, slice) that build values of any size a typo asks for.
ENV.filters.clear()
ENV.filters.update(FILTERS)


def _null_if_not_run(value: Any) -> Any:
    return None if isinstance(value, NotRun) else value


def _settled(test: Any) -> Callable[..., bool]:
    @wraps(test)  # keeps Jinja's pass_environment marks
    def run(*args: Any, **kwargs: Any) -> bool:
        return test(*(_null_if_not_run(a) for a in args),
                    **{k: _null_if_not_run(v) for k, v in kwargs.items()})
    return run


# A test sees a task that never ran (output_map) as null, as the rest of an expression does
# (`task.x is none`; Jinja's own test saw an undefined value, not None). A missing name or
# key stays what Jinja's tests make of it (`workflow.x is string` is false when x was never
# published: real workflows ask so). `defined` and `undefined` look at the lookup itself.
ENV.tests.update({name: _settled(test) for name, test in ENV.tests.items()
                  if name not in ("defined", "undefined")})


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> TemplateExpression:
    """Compiled once per distinct source: the same templates are evaluated thousands of times."""
    try:
        compiled = ENV.compile_expression(source, undefined_to_none=False)
    except (RecursionError, SyntaxError, MemoryError):  # Python's parser of the generated code
        raise ExpressionError(source, TOO_DEEP) from None
    except TemplateSyntaxError as exc:
        message = (exc.message or "invalid expression").replace("end of template", "end of expression")
        unknown = _UNKNOWN_FILTER.match(message)
        if unknown:  # "No filter named 'lenght'." (Jinja's wording)
            raise ExpressionError(source, f"unknown {unknown['kind']} '{unknown['name']}'") from None
        raise ExpressionError(source, f"syntax error: {message}") from None
    tree = Parser(ENV, source, state="variable").parse_expression()
    for literal in (tree, *tree.find_all(nodes.Const)):  # find_all leaves out the root itself
        bad = isinstance(literal, nodes.Const) and isinstance(literal.value, str) \
            and _SURROGATE.search(literal.value)
        if bad:  # '\\ud800' in a string literal: no record, payload or database takes it
            raise ExpressionError(source, f"a string literal holds \\u{ord(bad.group()):04x}, which is not "
                                          "valid Unicode text (write the character itself)")
    return compiled


_SURROGATE = re.compile("[\ud800-\udfff]")
_SEALED_TEXT = re.compile("__attune_secret__", re.IGNORECASE)
SPLICED_SECRET = ("a secret (a secret parameter, pack config marked secret, or an inquiry answer's "
                  "secret field) can only be passed whole to a task input (e.g. token: "
                  "\"{{ parameters.token }}\"), not turned into text, filtered or combined")
# A chain of operators (`1 + 1 + ... + 1`, `a ~ b ~ ...`) nests as deeply as brackets do.
TOO_DEEP = ("the expression is too long or nested too deeply to parse (keep it under about 50 levels "
            "of brackets and about 200 operators in a row; build long values with filters such as "
            "join or sum)")
_UNKNOWN_FILTER = re.compile(r"^No (?P<kind>filter|test) named '(?P<name>[^']*)'")


# --- splitting strings into text and {{ }} parts ------------------------------------------


class Part(NamedTuple):
    kind: str  # "text" | "expr" | "unclosed"
    text: str  # literal text, or the stripped expression source
    offset: int  # where the part (the "{{" for expressions) starts in the string


def _closing(s: str, i: int) -> int:
    """Index of the "}}" closing an expression body starting at i, or -1.

    Skips quoted strings and balanced brackets, as Jinja's lexer does, so "{{ '}}' }}" and
    "{{ {'a': {'b': 1}} }}" are one expression each. With unbalanced brackets the first "}}"
    ends it, so "{{ (1 }}" is reported as a syntax error in "(1".
    """
    depth, quote, first = 0, None, -1
    while i < len(s):
        c = s[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]":
            depth = max(depth - 1, 0)
        elif c == "}":
            if s.startswith("}", i + 1):
                if depth == 0:
                    return i
                first = i if first < 0 else first
            depth = max(depth - 1, 0)
        i += 1
    return first


@lru_cache(maxsize=4096)
def split_template(s: str) -> tuple[Part, ...]:
    parts: list[Part] = []
    pos = 0
    while (start := s.find("{{", pos)) >= 0:
        if start > pos:
            parts.append(Part("text", s[pos:start], pos))
        end = _closing(s, start + 2)
        if end < 0:
            parts.append(Part("unclosed", s[start + 2 :].strip(), start))
            return tuple(parts)
        parts.append(Part("expr", s[start + 2 : end].strip(), start))
        pos = end + 2
    if pos < len(s):
        parts.append(Part("text", s[pos:], pos))
    return tuple(parts)


UNCLOSED = "no closing '}}' for '{{' (check quotes and brackets)"


def _single(parts: tuple[Part, ...]) -> Part | None:
    """The expression when the string is exactly one {{ }} (surrounding whitespace allowed)."""
    exprs = [p for p in parts if p.kind != "text"]
    only_space = all(p.text.isspace() for p in parts if p.kind == "text")
    if len(exprs) == 1 and exprs[0].kind == "expr" and only_space:
        return exprs[0]
    return None


# --- evaluation --------------------------------------------------------------------------


_PY_TYPES = {"NoneType": "null", "int": "integer", "float": "number", "str": "string", "bool": "boolean",
             "dict": "object", "list": "array", "tuple": "array", "View": "object", "complex": "complex number"}
_PY_TYPE = re.compile(r"'(NoneType|int|float|str|bool|dict|list|tuple|View|complex)'")


def _in_our_words(message: str) -> str:
    """Python's wording of a failed operation in this language's: "'<' not supported between
    instances of 'int' and 'str'" reads "... of integer and string"; "_join()" reads "join()"."""
    message = _PY_TYPE.sub(lambda m: _PY_TYPES[m.group(1)], message)
    return re.sub(r"\b_([a-z]\w*)\(\)", r"\1()", message)


def _names(ctx: EvalContext) -> dict[str, Any]:
    # Bare names fall back to workflow variables; functions and namespaces take precedence.
    names = {k: v for k, v in ctx.variables.items() if isinstance(k, str)}
    names.update(FUNCTIONS)
    names.update(status_functions(ctx.status, ctx.result))
    names.update(host_functions(ctx.clock, ctx.uuid))
    workflow = View(ctx.variables, "no workflow variable {key!r}")
    tasks = Tasks(ctx.tasks, ctx.not_run_is_null)
    names.update(
        parameters=View(ctx.parameters, "no parameter {key!r}"),
        workflow=workflow,
        vars=workflow,
        variables=workflow,
        task=tasks,
        tasks=tasks,
        config=View(ctx.config, "pack config has no key {key!r}"),
        system=View(ctx.system, "system has no key {key!r}"),
        inquiry=View(ctx.inquiries, "no inquiry response for task {key!r} (it has no answered "
                     "wait_for inquiry)"),
        null=None,
    )
    if ctx.has_item:
        names.update(item=ctx.item, index=ctx.index)
    return names


def _within_built_length(source: str, value: Any) -> None:
    """No text an expression returns is longer than MAX_BUILT_LENGTH: nothing a user supplies is
    (parameters, action output are capped far below), so such text was built here, by `~`, `+`
    or a filter, e.g. a loop doubling a variable. At 100 MB the orchestrator's workflow task
    outlasted Temporal's deadlock detector and the run failed with no word of the limit."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if len(item) > MAX_BUILT_LENGTH:
                raise ExpressionError(source, f"it builds text of {len(item):,} characters, over the "
                                      f"limit of {MAX_BUILT_LENGTH:,} (pass references such as file "
                                      "paths instead)")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


class _Renderer:
    def __init__(self, ctx: EvalContext):
        self.ctx = ctx
        self._names: dict[str, Any] | None = None  # built on first use, shared by all parts

    def evaluate(self, source: str, typed: bool) -> Any:
        compiled = compile_expression(source)
        if self._names is None:
            self._names = _names(self.ctx)
        try:
            value = compiled(self._names)
            result = to_data(value) if typed else to_text(value)
        except EvalFailure as exc:
            raise ExpressionError(source, exc.message) from None
        except RecursionError:
            raise ExpressionError(source, TOO_DEEP) from None
        except Exception as exc:  # noqa: BLE001 - user code: any Python error becomes its cause
            raise ExpressionError(source, _in_our_words(str(exc)) or type(exc).__name__) from None
        if isinstance(result, str) and _SEALED_TEXT.search(result):
            # A sealed secret turned into text (`config | tojson`, `t | upper`, `p={{ parameters }}`):
            # the action would get the ciphertext, the records would keep it.
            raise ExpressionError(source, SPLICED_SECRET)
        _within_built_length(source, result)
        return result

    def string(self, s: str) -> Any:
        if "{{" not in s:
            return s
        parts = split_template(s)
        single = _single(parts)
        if single is not None:
            return self.evaluate(single.text, typed=True)
        out = []
        for part in parts:
            if part.kind == "unclosed":
                raise ExpressionError(part.text, UNCLOSED)
            out.append(part.text if part.kind == "text" else self.evaluate(part.text, typed=False))
        text = "".join(out)
        _within_built_length(s, text)
        return text

    def value(self, value: Any, field: str = "") -> Any:
        # Only the template is walked: values an expression returns are data and are never
        # rendered again, so a "{{ }}" inside an action's output stays literal text.
        if isinstance(value, str):
            try:
                return self.string(value)
            except ExpressionError as exc:
                exc.field = exc.field or field or None
                raise
        if isinstance(value, dict):
            return {k: self.value(v, f"{field}.{k}" if field else str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v, f"{field}[{i}]") for i, v in enumerate(value)]
        return value


def render(value: Any, ctx: EvalContext) -> Any:
    """Render every {{ }} in a str / dict / list (dict keys are left alone).

    A string that is exactly one "{{ expr }}" (whitespace around allowed) returns the typed value
    (int, float, bool, list, dict, None). Otherwise each expression is interpolated as text:
    null -> "", true/false -> "true"/"false" (JSON style), lists/objects -> JSON with json.dumps'
    default separators ('[1, 2]', '{"a": 1}'), numbers -> str(). Other scalars are returned as is.
    Raises ExpressionError.
    """
    return _Renderer(ctx).value(value)


def evaluate_condition(when: Any, ctx: EvalContext) -> bool:
    """A transition `when`: None -> True, else the rendered value's truthiness.

    Typed values use Python truthiness (false, null, 0, "", [] and {} are false); a string is
    false when empty or one of false/no/off/0/null/none (any case), so a condition that renders
    to the text "false" (say, an action's text output) does not fire.
    """
    if when is None:
        return True
    return truthy(render(when, ctx))


def template_expressions(value: Any) -> list[str]:
    """Every complete {{ }} expression source in a str / dict / list, in document order."""
    if isinstance(value, str):
        return [p.text for p in split_template(value) if p.kind == "expr"] if "{{" in value else []
    if isinstance(value, dict):
        return [e for v in value.values() for e in template_expressions(v)]
    if isinstance(value, (list, tuple)):
        return [e for v in value for e in template_expressions(v)]
    return []
