"""Resolve a spec into a plan: every loop unrolled, every expression evaluated, every shape known.

The plan is a tree of :class:`Node` (leaf ops and containers) carrying names, input/output
shapes and validated op arguments. It is computed in pure Python from the ops' shape rules, so
every mistake in a spec — unknown op, bad argument, dangling reference, impossible shape — is
reported with its file, line and field before torch is imported or any module is built.

Layer grammar (see specs/README.md): each layer is a mapping with ``op`` (a registered op or a
block of the spec) or ``seq`` (a nested list), and optionally ``name``, ``from`` (named inputs),
``outputs`` (names for a multi-output block), ``for``/``repeat`` (loops) and ``when``
(a condition); every other key is an argument of the op. An item with ``inline`` (a nested
list) and only ``for``/``repeat``/``when``/``doc`` splices its layers in place, with no sub-module.
"""
from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator

from pydantic import ValidationError

from archprof import ops
from archprof.errors import Location, SpecError
from archprof.spec import expr
from archprof.spec.registry import Op, Shape, ShapeError
from archprof.spec.schema import Spec, pydantic_error
from archprof.spec.yamlsrc import line_of, locate

RESERVED = {"op", "seq", "inline", "name", "from", "outputs", "for", "repeat", "when", "doc"}
INLINE_KEYS = {"inline", "for", "repeat", "when", "doc"}
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MODULE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")  # torch allows any name without a dot; RegNet uses block1-0
MAX_NODES = 20_000  # ten times the deepest zoo model; keeps any spec's analysis to seconds
MAX_BLOCK_DEPTH = 32
MAX_DIM = 1 << 24        # per dimension of one image's tensor
MAX_NUMEL = 1 << 36      # elements of one image's tensor (256 GiB in fp32)


@dataclass
class Node:
    """One module of the model: a registered op (``op``) or a container of ``children``."""

    name: str
    kind: str
    loc: Location
    in_shapes: tuple[Shape, ...]
    out_shape: Any
    op: Op | None = None
    children: list["Node"] = field(default_factory=list)
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    input_names: tuple[str, ...] = ("input",)
    output: Any = None
    block: str | None = None

    @property
    def is_graph(self) -> bool:
        """True when children read anything but their predecessor's output (needs a Graph)."""
        previous: tuple[str, ...] = self.input_names
        for child in self.children:
            if child.inputs != previous or child.outputs or len(previous) != 1:
                return True
            previous = (child.name,)
        return self.output != previous[0]

    def walk(self, prefix: str = "") -> Iterator[tuple[str, "Node"]]:
        """Every node below this one with its qualified module name (``layer1.0.conv1``)."""
        for child in self.children:
            qualified = f"{prefix}.{child.name}" if prefix else child.name
            yield qualified, child
            yield from child.walk(qualified)


@dataclass
class Plan:
    spec: Spec
    input_shape: Shape
    root: Node
    scope: dict[str, Any]

    def leaves(self) -> Iterator[tuple[str, Node]]:
        return ((n, node) for n, node in self.root.walk() if node.op is not None)


def resolve(spec: Spec, input_shape: Shape | None = None) -> Plan:
    """Unroll and check ``spec`` at ``input_shape`` (default: the spec's own input)."""
    try:
        return _Resolver(spec).plan(input_shape)
    except RecursionError:
        raise SpecError("the spec nests too deeply", Location(spec.file)) from None


class _Resolver:
    def __init__(self, spec: Spec):
        self.spec = spec
        self.ops = ops.load()
        self.raw = spec.raw
        self.nodes = 0
        self.block_stack: list[str] = []
        self._reuse_context: Any = ()

    # -- values ---------------------------------------------------------------------------
    def value(self, v: Any, scope: dict[str, Any], where: Location | Callable[[], Location]) -> Any:
        """Evaluate a spec value: expressions in strings, recursively through lists and dicts.
        ``where`` may be a function giving the location: it is needed only for an error, and
        working it out for every value was a tenth of resolving a spec."""
        if isinstance(v, str):
            text = v.strip()
            if IDENTIFIER.match(text):
                return scope.get(text, v)  # an unknown bare word is plain text, e.g. "row"
            try:
                expr.parse(text)
            except expr.ExprError:
                return v  # not an expression: plain text
            try:
                return expr.evaluate(text, scope)
            except expr.ExprError as exc:
                raise SpecError(str(exc), _at(where)) from None
        if isinstance(v, list):
            return [self.value(x, scope, lambda i=i: _at(where).child(i, line_of(v, i))) for i, x in enumerate(v)]
        if isinstance(v, dict):
            return {k: self.value(x, scope, lambda k=k: _at(where).child(k, line_of(v, k))) for k, x in v.items()}
        return v

    def globals(self) -> dict[str, Any]:
        scope: dict[str, Any] = {}
        base = Location(self.spec.file, None)
        for key, v in self.spec.params.items():
            scope[key] = self.value(v, scope, base.child("params").child(key))
        for key, v in self.spec.let.items():
            scope[key] = self.value(v, scope, locate(self.raw, ("let", key)))
        return scope

    def input_shape(self, scope: dict[str, Any]) -> Shape:
        where = locate(self.raw, ("input",))
        dims = self.value(list(self.spec.input), scope, where)
        if not dims or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
            raise SpecError(f"input must be a list of positive integers, got {dims}", where)
        too_large(tuple(dims), "the input", where)
        return tuple(dims)

    # -- the tree ---------------------------------------------------------------------------
    def plan(self, input_shape: Shape | None) -> Plan:
        scope = self.globals_cache()
        shape = tuple(input_shape) if input_shape is not None else self.input_shape(scope)
        scope = {**scope, "in_channels": shape[0], "in_shape": list(shape)}
        root = Node("", "model", locate(self.raw, ("layers",)), (shape,), None)
        self.fill(root, self.spec.layers, scope, "layers", output=None)
        return Plan(self.spec, shape, root, scope)

    def fill(self, parent: Node, items: Any, scope: dict[str, Any], path: str, output: Any) -> None:
        """Resolve ``items`` into ``parent.children`` and set the container's output and shape."""
        where = Location(getattr(items, "file", self.spec.file), getattr(items, "line", None), path)
        if not isinstance(items, list) or not items:
            raise SpecError("must be a non-empty list of layers", where)
        env: dict[str, Any] = dict(zip(parent.input_names, parent.in_shapes))
        previous: tuple[str, ...] = parent.input_names
        unnamed: list[Node] = []
        for item, item_scope, loc in self.expand(items, scope, path):
            name = self.name_of(item, item_scope, loc, len(parent.children))
            if name in env:
                raise SpecError(f"name '{name}' is already used in this list", loc.child("name"))
            refs = self.refs(item, item_scope, loc, previous, env)
            node = self.node(item, item_scope, tuple(env[r] for r in refs), loc, name)
            node.inputs = refs
            parent.children.append(node)
            env[name] = node.out_shape
            previous = (name,)
            if "outputs" in item:
                previous = self.bind_outputs(node, item, item_scope, loc, env)
            if "name" not in item:
                unnamed.append(node)
        renamed = readable_names(parent, unnamed, set(env))
        env = {renamed.get(k, k): v for k, v in env.items()}
        previous = tuple(renamed.get(p, p) for p in previous)
        self.check_in_place(parent, items)
        if output is None:
            parent.output = previous[0] if len(previous) == 1 else previous
        else:
            names = (output,) if isinstance(output, str) else tuple(output)
            for n in names:
                if n not in env:
                    raise SpecError(f"output '{n}' is not defined in the layers", where)
            parent.output = names[0] if isinstance(output, str) else names
        parent.out_shape = env[parent.output] if isinstance(parent.output, str) else tuple(env[o] for o in parent.output)

    def check_in_place(self, parent: Node, items: Any) -> None:
        """An op with ``inplace: true`` overwrites its first input: nothing else may read that value."""
        for index, child in enumerate(parent.children):
            if not getattr(child.op, "inplace", False):
                continue
            source = child.inputs[0]
            readers = [c.name for c in parent.children[index + 1:] if source in c.inputs]
            if source in parent.input_names:
                why = "the input of its block or model, which its caller may still need"
            elif readers:
                why = f"which '{readers[0]}' reads after it"
            else:
                continue
            raise SpecError(f"'{child.name}' ({child.kind}, inplace) would overwrite '{source}', {why}; "
                            "drop inplace or use another input", child.loc.child("inplace"))

    def expand(self, items: list, scope: dict[str, Any], path: str) -> Iterator[tuple[dict, dict, Location]]:
        """Items with their loop variables bound: ``for``, ``repeat`` and ``inline`` unroll in place."""
        for index, item in enumerate(items):
            loc = Location(getattr(items, "file", self.spec.file), line_of(items, index), f"{path}[{index}]")
            if not isinstance(item, dict):
                raise SpecError("a layer must be a mapping with 'op' or 'seq'", loc)
            extra = sorted(set(item) - INLINE_KEYS, key=str) if "inline" in item else []
            if extra:
                raise SpecError("'inline' takes only for, repeat, when and doc", loc.child(str(extra[0]), line_of(item, extra[0])))
            if "inline" in item and (not isinstance(item["inline"], list) or not item["inline"]):
                raise SpecError("must be a non-empty list of layers", loc.child("inline", line_of(item, "inline")))
            loops = list(self.loop_vars(item, loc))
            for bound in self.unroll(loops, scope, loc):
                if "when" in item:
                    cond = self.value(item["when"], bound, loc.child("when", line_of(item, "when")))
                    if not isinstance(cond, bool):
                        raise SpecError(f"'when' must be true or false, got {cond!r}", loc.child("when", line_of(item, "when")))
                    if not cond:
                        continue
                if "inline" in item:  # a group of layers spliced here, numbered as if written here
                    yield from self.expand(item["inline"], bound, f"{loc.path}.inline")
                    continue
                yield item, bound, loc

    def loop_vars(self, item: dict, loc: Location) -> Iterator[tuple[str, Any, Location]]:
        loops = item.get("for", {})
        if not isinstance(loops, dict):
            raise SpecError("'for' must map loop variables to lists, e.g. {s: range(4)}", loc.child("for", line_of(item, "for")))
        for var, values in loops.items():
            if not isinstance(var, str) or not IDENTIFIER.match(var):
                raise SpecError(f"loop variable '{var}' is not a name", loc.child("for", line_of(item, "for")))
            yield var, values, loc.child("for").child(var, line_of(loops, var))
        if "repeat" in item:
            yield "i", {"repeat": item["repeat"]}, loc.child("repeat", line_of(item, "repeat"))

    def unroll(self, loops: list, scope: dict[str, Any], loc: Location) -> Iterator[dict[str, Any]]:
        if not loops:
            yield scope
            return
        (var, values, where), rest = loops[0], loops[1:]
        if isinstance(values, dict):  # repeat: N
            count = self.value(values["repeat"], scope, where)
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise SpecError(f"repeat must be a non-negative integer, got {count!r}", where)
            values = list(range(min(count, MAX_NODES + 1)))
        else:
            values = self.value(values, scope, where)
        if not isinstance(values, (list, tuple)):
            raise SpecError(f"loop values must be a list, got {values!r}", where)
        if len(values) > MAX_NODES:
            raise SpecError(f"loop has more than {MAX_NODES} iterations", where)
        for v in values:
            yield from self.unroll(rest, {**scope, var: v}, loc)

    def name_of(self, item: dict, scope: dict[str, Any], loc: Location, index: int) -> str:
        if "name" not in item:
            return str(index)
        where = loc.child("name", line_of(item, "name"))
        template = item["name"]
        if not isinstance(template, (str, int)):
            raise SpecError("name must be a string", where)
        name = re.sub(r"\{([^{}]*)\}", lambda m: str(self.value(m.group(1), scope, where)), str(template))
        if not MODULE_NAME.match(name) or name == "input":
            raise SpecError(f"'{name}' is not a valid layer name (letters, digits, _ and -; not 'input')", where)
        return name

    def refs(self, item: dict, scope: dict[str, Any], loc: Location, previous: tuple[str, ...], env: dict) -> tuple[str, ...]:
        if "from" not in item:
            return previous
        where = loc.child("from", line_of(item, "from"))
        raw = item["from"]
        refs = [raw] if isinstance(raw, str) else raw
        if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
            raise SpecError("'from' must name an earlier layer or a list of them", where)
        names = tuple(re.sub(r"\{([^{}]*)\}", lambda m: str(self.value(m.group(1), scope, where)), r) for r in refs)
        for ref in names:
            if ref not in env:
                raise SpecError(f"unknown reference '{ref}' (defined before this layer: {', '.join(env)})", where)
        return names

    def bind_outputs(self, node: Node, item: dict, scope: dict, loc: Location, env: dict) -> tuple[str, ...]:
        where = loc.child("outputs", line_of(item, "outputs"))
        outs = item["outputs"]
        if not isinstance(outs, list) or not all(isinstance(o, str) and IDENTIFIER.match(o) for o in outs):
            raise SpecError("'outputs' must be a list of names", where)
        shapes = node.out_shape
        if not (isinstance(shapes, tuple) and shapes and isinstance(shapes[0], tuple) and len(shapes) == len(outs)):
            raise SpecError(f"'{node.kind}' does not return {len(outs)} outputs", where)
        node.outputs = tuple(outs)
        env.update(zip(outs, shapes))
        return node.outputs

    def node(self, item: dict, scope: dict, in_shapes: tuple, loc: Location, name: str) -> Node:
        try:
            return self._node(item, scope, in_shapes, loc, name)
        except (SpecError, RecursionError):
            raise
        except (TypeError, ValueError, IndexError, KeyError, ArithmeticError, AttributeError) as exc:
            # values of the wrong kind that slipped past the field checks (a string where a list of
            # numbers was expected, say) end here as one error at this layer, never a traceback
            raise SpecError(f"invalid value ({type(exc).__name__}: {exc})", loc) from None

    def _node(self, item: dict, scope: dict, in_shapes: tuple, loc: Location, name: str) -> Node:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise SpecError(f"the model has more than {MAX_NODES} layers", loc)
        for key in item:
            if not isinstance(key, str):
                raise SpecError(f"field names must be strings, got {key!r}", loc)
        if ("op" in item) == ("seq" in item):
            raise SpecError("a layer needs exactly one of 'op' or 'seq'", loc)
        if "seq" in item:
            names = ("input",) if len(in_shapes) == 1 else tuple(f"input{k}" for k in range(len(in_shapes)))
            node = Node(name, "seq", loc, in_shapes, None, input_names=names)
            extra = sorted(set(item) - RESERVED)
            if extra:
                raise SpecError("'seq' takes no arguments", loc.child(extra[0], line_of(item, extra[0])))
            self.fill(node, item["seq"], scope, f"{loc.path}.seq", output=None)
            return node
        where = loc.child("op", line_of(item, "op"))
        raw_kind = item["op"]
        # a registered op or block name is itself; any other word may be a parameter naming one (op: act)
        known = isinstance(raw_kind, str) and (raw_kind in self.ops or raw_kind in self.spec.blocks)
        kind = raw_kind if known else self.value(raw_kind, scope, where)
        args = {k: self.value(v, scope, lambda k=k: loc.child(k, line_of(item, k))) for k, v in item.items() if k not in RESERVED}
        if isinstance(kind, str) and kind in self.spec.blocks:
            return self.block(kind, args, item, in_shapes, loc, name)
        if not isinstance(kind, str) or kind not in self.ops:
            known = sorted(set(self.ops) | set(self.spec.blocks))
            hint = difflib.get_close_matches(str(kind), known, 1)
            raise SpecError(f"unknown op '{kind}'" + (f" (did you mean '{hint[0]}'?)" if hint else "") + f"; {ops.PLUGIN_HELP}", where)
        return self.leaf(self.ops[kind], args, item, in_shapes, loc, name, scope)

    def leaf(self, cls: type[Op], args: dict, item: dict, in_shapes: tuple, loc: Location, name: str, scope: dict) -> Node:
        # an op's validation and shape rule are pure: the same class, arguments and input shapes
        # give the same op and output, in this spec or any other (a sweep's variants share most layers)
        key = _frozen(args)
        key = key and (cls, key, in_shapes)
        if key is not None and key in _LEAVES:
            op, out = _LEAVES[key]
            return Node(name, cls.kind, loc, in_shapes, out, op=op)
        node = self.checked_leaf(cls, args, item, in_shapes, loc, name, scope)
        if key is not None:
            if len(_LEAVES) >= MAX_CACHED_LEAVES:
                _LEAVES.clear()
            _LEAVES[key] = node.op, node.out_shape
        return node

    def checked_leaf(self, cls: type[Op], args: dict, item: dict, in_shapes: tuple, loc: Location, name: str, scope: dict) -> Node:
        if cls.inputs is not None and len(in_shapes) != cls.inputs:
            raise SpecError(f"'{cls.kind}' takes {cls.inputs} input(s), got {len(in_shapes)}", loc.child("from", line_of(item, "from")))
        try:
            op = cls.model_validate(args)
        except ValidationError as exc:
            raise _unknown_name(exc, args, item, loc, scope) or pydantic_error(exc, item, loc) from None
        shapes = [s for s in in_shapes]
        if not all(isinstance(s, tuple) and all(isinstance(d, int) for d in s) for s in shapes):
            raise SpecError(f"'{cls.kind}' cannot take a multi-output value as input", loc)
        try:
            out = op.shape(*in_shapes)
        except ShapeError as exc:
            raise SpecError(f"{cls.kind} '{name}': {exc}", loc) from None
        for shape in (out if out and isinstance(out[0], tuple) else (out,)):
            too_large(shape, f"{cls.kind} '{name}' would output", loc)
        return Node(name, cls.kind, loc, in_shapes, out, op=op)

    def block(self, kind: str, args: dict, item: dict, in_shapes: tuple, loc: Location, name: str) -> Node:
        block = self.spec.blocks[kind]
        if kind in self.block_stack:
            cycle = self.block_stack[self.block_stack.index(kind):] + [kind]
            raise SpecError(f"block '{kind}' uses itself ({' -> '.join(cycle)})", loc)
        if len(self.block_stack) >= MAX_BLOCK_DEPTH:
            raise SpecError(f"blocks nest more than {MAX_BLOCK_DEPTH} deep ({self.block_stack[0]} -> ... -> "
                            f"{self.block_stack[-1]} -> {kind}); flatten some of them", loc)
        bound: dict[str, Any] = {}
        for param, default in block.params.items():
            if param in args:
                bound[param] = args.pop(param)
            elif default == "required":
                raise SpecError(f"block '{kind}' needs argument '{param}'", loc)
            else:
                bound[param] = default
        if args:
            key = sorted(args)[0]
            raise SpecError(f"block '{kind}' has no parameter '{key}' (parameters: {', '.join(block.params) or 'none'})", loc.child(key, line_of(item, key)))
        if len(in_shapes) != len(block.inputs):
            raise SpecError(f"block '{kind}' takes {len(block.inputs)} input(s), got {len(in_shapes)}", loc)
        reuse = _frozen((kind, bound, in_shapes))
        context = self.reuse_context()
        reuse = None if reuse is None or context is None else (context, len(self.block_stack), reuse)
        if reuse is not None and reuse in _BLOCKS:
            # the same block with the same arguments on the same shapes resolves to the same layers
            # (ResNet's identical blocks, and a sweep's variants): reuse them, counted as if resolved again
            cached, count = _BLOCKS[reuse]
            self.nodes += count
            if self.nodes > MAX_NODES:
                raise SpecError(f"the model has more than {MAX_NODES} layers", loc)
            return replace(cached, name=name, loc=loc, inputs=(), outputs=())
        before = self.nodes
        raw_block = self.raw["blocks"][kind]
        first = in_shapes[0]
        scope = {**self.globals_cache(), **bound, "in_channels": first[0] if first else 0, "in_shape": list(first)}
        for key, v in block.let.items():
            scope[key] = self.value(v, scope, locate(raw_block, ("let", key)))
        node = Node(name, kind, loc, in_shapes, None, input_names=tuple(block.inputs), block=kind)
        self.block_stack.append(kind)
        try:
            self.fill(node, raw_block["layers"], scope, f"blocks.{kind}.layers", output=block.output)
        except SpecError as exc:
            if "(in block '" in exc.message:   # the innermost use is the telling one
                raise
            raise SpecError(f"{exc.message} (in block '{kind}' used at {loc})", exc.where) from None
        finally:
            self.block_stack.pop()
        if reuse is not None:
            if len(_BLOCKS) >= MAX_CACHED_BLOCKS:
                _BLOCKS.clear()
            _BLOCKS[reuse] = (node, self.nodes - before)
        return node

    def reuse_context(self) -> Any:
        """What a resolved block depends on besides its arguments, input shapes and nesting depth:
        the spec's blocks (the very objects the file was parsed into, shared by every variant of a
        family) and the values of the spec's parameters that any block names. None where those
        values are not plain data: then nothing is reused."""
        if self._reuse_context == ():
            blocks = self.raw.get("blocks") or {}
            known = _BLOCK_SOURCES.get(id(blocks))
            if known is None or known[0] is not blocks:
                if len(_BLOCK_SOURCES) >= MAX_BLOCK_SOURCES:
                    _BLOCK_SOURCES.clear()
                    _BLOCKS.clear()
                known = (blocks, next(_TOKENS), sorted(_names_in(blocks)))
                _BLOCK_SOURCES[id(blocks)] = known
            scope = self.globals_cache()
            named = _frozen({n: scope[n] for n in known[2] if n in scope})
            self._reuse_context = None if named is None else (known[1], named)
        return self._reuse_context

    def globals_cache(self) -> dict[str, Any]:
        if not hasattr(self, "_globals"):
            self._globals = self.globals()
        return self._globals


MAX_CACHED_LEAVES = 100_000
MAX_CACHED_BLOCKS = 20_000
MAX_BLOCK_SOURCES = 256
_BLOCKS: dict = {}          # (source token and parameters, depth, block, arguments, input shapes) -> (node, layers in it)
_BLOCK_SOURCES: dict = {}   # id of a spec's raw blocks -> (those blocks, their token, the words in them)
_TOKENS = itertools.count()
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _names_in(value: Any) -> set[str]:
    """Every word in the strings and keys of ``value``: a superset of the names its expressions read."""
    if isinstance(value, str):
        return set(WORD.findall(value))
    if isinstance(value, dict):
        return set().union(*(_names_in(k) | _names_in(v) for k, v in value.items()))
    if isinstance(value, list):
        return set().union(*(_names_in(v) for v in value))
    return set()
_LEAVES: dict = {}   # (op class, arguments, input shapes) -> (op, output shape)


def _at(where: Location | Callable[[], Location]) -> Location:
    return where() if callable(where) else where


def _frozen(value: Any) -> Any:
    """``value`` as a hashable key (lists as tuples, mappings as sorted pairs); None if it holds anything else."""
    if isinstance(value, (list, tuple)):
        items = [_frozen(v) for v in value]
        return None if any(i is None for i in items) else (type(value).__name__, *items)
    if isinstance(value, dict):
        items = [(k, _frozen(v)) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))]
        return None if any(v is None for _, v in items) else ("dict", *items)
    if value is None or isinstance(value, (str, int, float, bool)):
        return (type(value).__name__, value)
    return None


def too_large(shape: Shape, what: str, where: Location) -> None:
    """Refuse a tensor no machine holds: a dimension over MAX_DIM or more than MAX_NUMEL elements."""
    numel = 1
    for d in shape:
        numel *= d
    if any(d > MAX_DIM for d in shape) or numel > MAX_NUMEL:
        text = "x".join(map(str, shape))
        raise SpecError(f"{what} {text[:60]}{'...' if len(text) > 60 else ''}: larger than any tensor archprof handles "
                        f"(a dimension over {MAX_DIM:,} or more than {MAX_NUMEL:,} elements per image)", where)


NUMERIC_ERRORS = {"int_parsing", "int_type", "float_parsing", "float_type", "int_from_float"}


def readable_names(parent: Node, unnamed: list[Node], taken: set[str]) -> dict[str, str]:
    """Unnamed stateless layers take their op's name (``relu``; ``add_1``, ``add_2`` when a list has
    several), so that a table reads ``layer1.0.relu`` rather than ``layer1.0.2``. Layers with
    parameters or buffers keep their position, as ``nn.Sequential`` names them, so that state_dict
    keys stay those of the references. Returns the renames, applied to ``parent``'s children."""
    groups: dict[str, list[Node]] = {}
    for node in unnamed:
        if node.op is not None and node.op.stateless:
            groups.setdefault(re.sub(r"[^A-Za-z0-9_]", "_", node.kind), []).append(node)
    renamed: dict[str, str] = {}
    for base, nodes in groups.items():
        candidates = iter([base] if len(nodes) == 1 and base not in taken else (f"{base}_{i}" for i in range(1, 1 << 30)))
        for node in nodes:
            name = next(c for c in candidates if c not in taken)
            taken.add(name)
            renamed[node.name] = name
    for child in parent.children:
        child.name = renamed.get(child.name, child.name)
        child.inputs = tuple(renamed.get(i, i) for i in child.inputs)
    return renamed


def _unknown_name(exc: ValidationError, args: dict, item: dict, loc: Location, scope: dict) -> SpecError | None:
    """A number was expected and the spec wrote a bare word that names nothing (``out: widht``):
    say so, with the closest known name, rather than "not a valid integer"."""
    for err in exc.errors():
        if err["type"] not in NUMERIC_ERRORS:
            continue
        path = [p for p in err["loc"] if isinstance(p, int) or IDENTIFIER.match(str(p))]
        value: Any = args
        for key in path:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                value = None
                break
        if isinstance(value, str) and IDENTIFIER.match(value) and value not in scope:
            hint = difflib.get_close_matches(value, [k for k in scope if isinstance(k, str)], 1)
            known = f" (did you mean '{hint[0]}'?)" if hint else ""
            return SpecError(f"unknown name '{value}'{known}", locate(item, tuple(path), loc))
    return None


def propagate(node: Node, in_shapes: tuple[Shape, ...], prefix: str = "", memo: dict | None = None) -> Any:
    """Output shape of an already-built plan at other input shapes, or ShapeError naming the layer.

    Structure and module sizes stay as built: each op must still receive the dims its module was
    built for (:meth:`Op.bound`), which is what a trained model accepts. ``memo`` caches results
    per (node, input shapes): probing many sizes, deep layers soon see shapes they have seen.
    """
    if memo is None:
        return _propagate(node, in_shapes, prefix, None)
    key = (id(node), in_shapes)
    if key not in memo:
        try:
            memo[key] = _propagate(node, in_shapes, prefix, memo)
        except ShapeError as exc:
            memo[key] = exc
    if isinstance(memo[key], ShapeError):
        raise memo[key]
    return memo[key]


def _propagate(node: Node, in_shapes: tuple[Shape, ...], prefix: str, memo: dict | None) -> Any:
    if node.op is not None:
        if node.op.bound(*in_shapes) != node.op.bound(*node.in_shapes):
            built = ", ".join("x".join(map(str, s)) for s in node.in_shapes)
            got = ", ".join("x".join(map(str, s)) for s in in_shapes)
            raise ShapeError(f"layer '{prefix}' ({node.kind}) is built for input {built}, got {got}")
        try:
            return node.op.shape(*in_shapes)
        except ShapeError as exc:
            raise ShapeError(f"layer '{prefix}' ({node.kind}): {exc}") from None
    env = dict(zip(node.input_names, in_shapes))
    for child in node.children:
        out = propagate(child, tuple(env[r] for r in child.inputs), f"{prefix}.{child.name}" if prefix else child.name, memo)
        env[child.name] = out
        env.update(zip(child.outputs, out))
    return env[node.output] if isinstance(node.output, str) else tuple(env[o] for o in node.output)


def declared_input(spec: Spec) -> Shape:
    """The spec's own input shape, with its expressions evaluated (no layer is resolved)."""
    resolver = _Resolver(spec)
    return resolver.input_shape(resolver.globals_cache())
