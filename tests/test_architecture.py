"""The layout is the architecture: stages of the flow import only earlier stages, never in a cycle.

spec (YAML → Spec → plan → nn.Module, and the ops) ← analysis ← bench / train / verify ← report ← cli,
with the shared core (errors, files, text, png, lazy imports) below them all. Every import counts,
also those inside functions: a deferred import is still a dependency.
"""
from __future__ import annotations

import ast
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import archprof

PACKAGE = Path(archprof.__file__).resolve().parent
MAX_LINES = 600

#: Stages in the order of the flow; a module may import its own stage and the stages before it.
STAGES = [
    ("core", ("archprof.errors", "archprof.files", "archprof.text", "archprof.png", "archprof._lazy", "archprof.cache")),
    ("spec", ("archprof.spec", "archprof.ops", "archprof")),
    ("analysis", ("archprof.analysis",)),
    ("bench/gate/train/verify", ("archprof.bench", "archprof.gate", "archprof.train", "archprof.verify")),
    ("report", ("archprof.report",)),
    ("cli", ("archprof.cli", "archprof.__main__")),
]


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _stage(module: str) -> int:
    best = None
    for index, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + ".") and prefix != "archprof":
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    assert best is not None, f"{module} belongs to no stage: add it to STAGES"
    return best[0]


def _imports(module: str) -> set[str]:
    """archprof modules that ``module`` imports, anywhere in its body."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:  # `from pkg import submodule` depends on the submodule
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != module}


GRAPH = {m: _imports(m) for m in MODULES}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_earlier_stages(module):
    later = sorted(m for m in GRAPH[module] if _stage(m) > _stage(module))
    assert not later, f"{module} (stage {STAGES[_stage(module)][0]}) imports later stages: " + ", ".join(
        f"{m} ({STAGES[_stage(m)][0]})" for m in later)


def test_no_import_cycles():
    """Tarjan's strongly connected components of the import graph: all of size one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES}): split it by job"


def test_every_subpackage_is_packaged():
    """pyproject lists packages explicitly: a new subpackage missing there would not be installed."""
    text = (PACKAGE.parent / "pyproject.toml").read_text()
    listed = set(re.findall(r'"([a-z_.]+)"', re.search(r"(?ms)^packages = \[(.*?)\]", text).group(1)))
    packages = {m for m, p in MODULES.items() if p.name == "__init__.py"}
    assert packages <= listed, f"not in pyproject.toml: {sorted(packages - listed)}"


@pytest.mark.parametrize("module", ["archprof", "archprof.spec", "archprof.ops", "archprof.spec.plan", "archprof.spec.zoo",
                                    "archprof.analysis", "archprof.analysis.result", "archprof.analysis.sources", "archprof.analysis.fast",
                                    "archprof.analysis.sweep", "archprof.spec.costs",
                                    "archprof.bench", "archprof.bench.options", "archprof.bench.devices", "archprof.gate",
                                    "archprof.gate.snapshot", "archprof.gate.pytest_plugin", "archprof.spec.budgets", "archprof.train",
                                    "archprof.verify", "archprof.report", "archprof.cli"])
def test_torch_free_modules(module):
    """What validates specs, holds results and parses the command line never imports torch."""
    code = f"import sys, {module}; assert 'torch' not in sys.modules, 'torch imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("package", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_exported_names_are_not_submodule_names(package):
    """Once a submodule is imported, its name on the package is the module: an exported function of
    the same name would then silently turn into a module."""
    module = importlib.import_module(package)
    exported = set(getattr(module, "__all__", ())) | set(dir(module) if hasattr(module, "__getattr__") else ())
    submodules = {m.rpartition(".")[2] for m in MODULES if m.rpartition(".")[0] == package}
    assert not exported & submodules, f"{package} exports names of its submodules: {sorted(exported & submodules)}"
