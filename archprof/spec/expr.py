"""A small, safe evaluator for arithmetic in spec parameters.

Specs may write ``out: planes * 4`` or ``repeat: ceil(3 * depth_mult)``. The text is parsed with
:mod:`ast` and interpreted node by node over a whitelist: literals, names, arithmetic, comparisons,
conditionals, indexing/slicing, lists/tuples, one-generator list comprehensions and the functions
in :data:`FUNCTIONS`. There is no attribute access, no keyword arguments to arbitrary callables,
no imports, no string formatting and no ``eval``. Every construct is bounded: integers to
:data:`MAX_INT_BITS` bits, each value to :data:`MAX_ELEMENTS` elements counted through nested lists,
and one evaluation to :data:`MAX_STEPS` interpreted nodes and :data:`MAX_WORK` elements made in
all, so every expression ends in a fraction of a second with a value or an :class:`ExprError`.
"""
from __future__ import annotations

import ast
import functools
import math
import operator
from typing import Any, Callable

MAX_TEXT = 2000
MAX_ELEMENTS = 100_000
MAX_INT_BITS = 256
MAX_STEPS = 50_000       # nodes interpreted in one evaluation (comprehensions count every element)
MAX_WORK = 1_000_000     # elements of all values made in one evaluation


class ExprError(ValueError):
    """An expression is malformed, unsafe, or fails to evaluate."""


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without losing more than 10%.

    This is the rounding published with MobileNetV2/EfficientNet (TF reference ``round_filters``),
    also used by torchvision and timm.
    """
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return int(new)


def _range(*args: int) -> list[int]:
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        raise ExprError("range() takes integers")
    r = range(*args)
    if len(r) > MAX_ELEMENTS:
        raise ExprError(f"range() longer than {MAX_ELEMENTS}")
    return list(r)


def _sum(values, start=0):
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ExprError("sum() takes a list of numbers")
    return sum(values, start)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "min": min, "max": max, "sum": _sum, "len": len, "round": round,
    "int": int, "float": float, "bool": bool, "str": str,
    "ceil": math.ceil, "floor": math.floor, "sqrt": math.sqrt, "log2": math.log2,
    "range": _range, "list": list, "tuple": tuple, "zip": lambda *a: list(zip(*a)),
    "enumerate": lambda a: list(enumerate(a)), "make_divisible": make_divisible,
}

_BINARY = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_}
_COMPARE = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


def parse(text: str) -> ast.expr:
    if len(text) > MAX_TEXT:
        raise ExprError(f"expression longer than {MAX_TEXT} characters")
    return _parse(text.strip())


@functools.lru_cache(maxsize=8192)
def _parse(text: str) -> ast.expr:
    # a spec's expressions are resolved again for every variant of a sweep; the tree is never modified
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ExprError(f"not a valid expression: {text!r}") from None


def names(node: ast.expr) -> set[str]:
    """Free variable names of a parsed expression (function names excluded)."""
    bound = {n.id for c in ast.walk(node) if isinstance(c, ast.comprehension) for n in ast.walk(c.target) if isinstance(n, ast.Name)}
    called = {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - bound - called


def evaluate(text: str, scope: dict[str, Any]) -> Any:
    """Evaluate ``text`` with the variables in ``scope``; raise :class:`ExprError` on any problem."""
    try:
        return _Interpreter(scope, _Budget()).eval(parse(text))
    except ExprError:
        raise
    except RecursionError:
        raise ExprError("expression nests too deeply") from None
    except MemoryError:
        raise ExprError("value too large") from None
    except (ArithmeticError, TypeError, ValueError, IndexError, KeyError) as exc:
        raise ExprError(f"{text!r}: {exc}") from None


def _elements(value: Any, limit: int) -> int:
    """Elements of ``value``, counted through nested lists and strings; stops once over ``limit``."""
    if isinstance(value, str):
        return len(value)
    if not isinstance(value, (list, tuple)):
        return 1
    count = len(value)
    for item in value:
        if count > limit:
            break
        if isinstance(item, (list, tuple, str)):
            count += _elements(item, limit - count)
    return count


class _Budget:
    """What one evaluation may spend: interpreted nodes and elements of the values it makes."""

    def __init__(self):
        self.steps = 0
        self.work = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise ExprError(f"expression takes more than {MAX_STEPS} steps")

    def reserve(self, steps: int) -> None:
        """Steps a loop is bound to take (one per item at least), checked before it starts."""
        if self.steps + steps > MAX_STEPS:
            raise ExprError(f"expression takes more than {MAX_STEPS} steps")

    def charge(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
            raise ExprError("number too large")
        if isinstance(value, (list, tuple, str)):
            size = _elements(value, MAX_ELEMENTS)
            if size > MAX_ELEMENTS:
                raise ExprError("value too large")
            self.work += size
            if self.work > MAX_WORK:
                raise ExprError(f"expression makes more than {MAX_WORK} elements")
        return value


class _Interpreter:
    def __init__(self, scope: dict[str, Any], budget: _Budget):
        self.scope = scope
        self.budget = budget

    def eval(self, node: ast.AST) -> Any:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise ExprError(f"'{type(node).__name__}' is not allowed in spec expressions")
        self.budget.step()
        return self.budget.charge(method(node))

    def _Constant(self, node: ast.Constant) -> Any:
        if not isinstance(node.value, (int, float, str, bool, type(None))):
            raise ExprError(f"constant {node.value!r} is not allowed")
        return node.value

    def _Name(self, node: ast.Name) -> Any:
        if node.id in self.scope:
            return self.scope[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        raise ExprError(f"unknown name '{node.id}'")

    def _BinOp(self, node: ast.BinOp) -> Any:
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ExprError(f"operator '{type(node.op).__name__}' is not allowed")
        left, right = self.eval(node.left), self.eval(node.right)
        if isinstance(node.op, ast.Mod) and isinstance(left, str):
            raise ExprError("string formatting is not allowed")
        if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)):
            if abs(right) > 64 or isinstance(left, int) and abs(left).bit_length() * abs(right) > MAX_INT_BITS:
                raise ExprError("power too large")
        if isinstance(node.op, ast.Mult) and (isinstance(left, (str, list, tuple)) or isinstance(right, (str, list, tuple))):
            count = right if isinstance(left, (str, list, tuple)) else left
            seq = left if isinstance(left, (str, list, tuple)) else right
            if isinstance(count, int) and _elements(seq, MAX_ELEMENTS) * max(count, 0) > MAX_ELEMENTS:
                raise ExprError("value too large")
        return op(left, right)

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        op = _UNARY.get(type(node.op))
        if op is None:
            raise ExprError(f"operator '{type(node.op).__name__}' is not allowed")
        return op(self.eval(node.operand))

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.eval(operand)
            if isinstance(node.op, ast.And) and not value or isinstance(node.op, ast.Or) and value:
                return value
        return value

    def _Compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.eval(comparator)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def _IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)

    def _Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = node.func.id if isinstance(node.func, ast.Name) else "this"
            raise ExprError(f"function '{name}' is not available (allowed: {', '.join(sorted(FUNCTIONS))})")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExprError("only positional arguments are allowed in calls")
        return FUNCTIONS[node.func.id](*(self.eval(a) for a in node.args))

    def _Subscript(self, node: ast.Subscript) -> Any:
        return self.eval(node.value)[self.eval(node.slice)]

    def _Slice(self, node: ast.Slice) -> slice:
        return slice(*(self.eval(p) if p is not None else None for p in (node.lower, node.upper, node.step)))

    def _List(self, node: ast.List) -> list:
        return [self.eval(e) for e in node.elts]

    def _Tuple(self, node: ast.Tuple) -> tuple:
        return tuple(self.eval(e) for e in node.elts)

    def _ListComp(self, node: ast.ListComp) -> list:
        if len(node.generators) != 1 or node.generators[0].is_async:
            raise ExprError("list comprehensions take exactly one 'for'")
        gen = node.generators[0]
        items = self.eval(gen.iter)
        self.budget.reserve(len(items) if isinstance(items, (list, tuple, str)) else 1)  # fail now, not after the loop
        out = []
        for item in items:
            inner = _Interpreter({**self.scope, **_bind(gen.target, item)}, self.budget)
            if all(inner.eval(cond) for cond in gen.ifs):
                out.append(inner.eval(node.elt))
        return out


def _bind(target: ast.AST, value: Any) -> dict[str, Any]:
    if isinstance(target, ast.Name):
        return {target.id: value}
    if isinstance(target, ast.Tuple):
        values = list(value)
        if len(values) != len(target.elts):
            raise ExprError("cannot unpack in comprehension")
        return {k: v for t, x in zip(target.elts, values) for k, v in _bind(t, x).items()}
    raise ExprError("comprehension targets must be names")
