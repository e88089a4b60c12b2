"""The ops of the spec language: the bundled ones (one module each here, registered on import) and
the user's own, loaded from plugins.

A new op is a class decorated with :func:`register`: its arguments as pydantic fields, its shape
rule and its ``build`` (see :mod:`archprof.spec.registry`). A plugin is any Python module that
defines such classes; specs name its ops, but only the user's installed code defines them. Plugins
are loaded from the entry-point group ``archprof.ops`` of installed packages, from the
``ARCHPROF_PLUGINS`` environment variable (module names or ``.py`` files, separated by commas) and
from ``--plugin MODULE`` on the command line (which also sets ``ARCHPROF_PLUGINS`` for the
processes archprof starts).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path

from archprof.errors import ArchprofError
from archprof.spec.registry import OPS, NonNegInt, Op, Pad2, PositiveInt, Probability, Shape, ShapeError, Size2, pair, register

__all__ = ["ENTRY_POINTS", "ENV", "NonNegInt", "Op", "Pad2", "PositiveInt", "Probability", "Shape", "ShapeError", "Size2",
           "load", "load_plugins", "pair", "register"]

ENTRY_POINTS = "archprof.ops"
ENV = "ARCHPROF_PLUGINS"
PLUGIN_HELP = (f"ops from plugins load with --plugin MODULE, the {ENV} environment variable, or an installed "
               f"package's '{ENTRY_POINTS}' entry point")

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

_loaded: set[str] = set()   # plugins imported so far (module names and resolved file paths)
_discovered = False         # entry points and ARCHPROF_PLUGINS, once per process


def load() -> dict[str, type[Op]]:
    """Every registered op by name: the bundled ones, those of installed plugins and of ARCHPROF_PLUGINS."""
    global _discovered
    if not _discovered:
        _discovered = True
        _load_entry_points()
        load_plugins([p for p in os.environ.get(ENV, "").split(",") if p.strip()], export=False)
    return OPS


def load_plugins(plugins: list[str] | tuple[str, ...], *, export: bool = True) -> None:
    """Import each plugin (a module name on the path, or a ``.py`` file), registering its ops.

    With ``export`` the plugins are added to ``ARCHPROF_PLUGINS``, so that worker processes
    (training data loaders, the trainability pool, torchrun) load them too.
    """
    for plugin in (p.strip() for p in plugins):
        key = str(Path(plugin).resolve()) if plugin.endswith(".py") else plugin
        if key in _loaded:
            continue
        _import(plugin)
        _loaded.add(key)
        if export:
            current = [p for p in os.environ.get(ENV, "").split(",") if p.strip()]
            os.environ[ENV] = ",".join(dict.fromkeys([*current, key]))


def _import(plugin: str) -> None:
    try:
        if plugin.endswith(".py"):
            path = Path(plugin)
            if not path.is_file():
                raise ArchprofError(f"plugin {plugin}: no such file")
            name = f"_archprof_plugin_{path.stem}_{abs(hash(str(path.resolve())))}"
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            importlib.import_module(plugin)
    except ArchprofError:
        raise
    except ModuleNotFoundError as exc:
        if exc.name and plugin.split(".")[0] == exc.name.split(".")[0]:
            raise ArchprofError(f"plugin '{plugin}': no module of that name (is its folder on PYTHONPATH? a file "
                                f"is given as path/to/ops.py)") from None
        raise ArchprofError(f"plugin '{plugin}': importing it raised ModuleNotFoundError: {exc}") from None
    except ValueError as exc:   # register() refuses a name twice
        raise ArchprofError(f"plugin '{plugin}': {exc}") from None
    except BaseException as exc:  # noqa: BLE001 - the user's code failed (SystemExit included): one line
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise ArchprofError(f"plugin '{plugin}': importing it raised {type(exc).__name__}: {exc}") from None


def _load_entry_points() -> None:
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINTS):
        if ep.value in _loaded:
            continue
        try:
            ep.load()
        except ValueError as exc:
            raise ArchprofError(f"plugin '{ep.value}' (entry point {ENTRY_POINTS} of {ep.dist.name if ep.dist else '?'}): {exc}") from None
        except Exception as exc:  # noqa: BLE001 - an installed plugin that fails to import: one line
            raise ArchprofError(f"plugin '{ep.value}' (entry point {ENTRY_POINTS}): importing it raised {type(exc).__name__}: {exc}") from None
        _loaded.add(ep.value)
