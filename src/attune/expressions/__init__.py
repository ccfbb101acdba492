"""`{{ }}` expressions of the workflow language (spec §6): rendering, conditions, load-time checks."""

from .check import StaticScope, TemplateProblem, check_template
from .engine import EvalContext, ExpressionError, evaluate_condition, render, template_expressions
from .functions import FUNCTION_NAMES

__all__ = [
    "FUNCTION_NAMES",
    "EvalContext",
    "ExpressionError",
    "StaticScope",
    "TemplateProblem",
    "check_template",
    "evaluate_condition",
    "render",
    "template_expressions",
]
