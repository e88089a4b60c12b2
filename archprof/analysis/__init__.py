"""Stage 2, the analyser: a source built on the meta device → traced rows → :class:`Analysis` → renderers.

:mod:`.sources` opens what can be analysed (specs, ``torchvision:``/``timm:`` names, user files,
modules); :mod:`.trace` runs one forward pass under a dispatch mode, costing each op with
:mod:`.formulas`, following receptive fields with :mod:`.receptive` and tensor lifetimes for the
memory peak; :mod:`.meta_memo` and :mod:`.fast_meta` make meta kernels cheap; :mod:`.constraints`
probes the input sizes a model takes; :mod:`.engine` puts it together into an
:class:`~archprof.analysis.result.Analysis` (:mod:`.result`, torch-free), which :mod:`.render`
prints. Importing this package imports no torch; ``analyze`` does.
"""
from archprof._lazy import lazy_exports

__all__ = ["Analysis", "COLUMNS", "analyze", "build_on_meta", "open_source", "rollup"]
__getattr__, __dir__ = lazy_exports(__name__, {
    "analyze": "engine",
    "Analysis": "result",
    "COLUMNS": "result",
    "rollup": "result",
    "build_on_meta": "sources",
    "open_source": "sources",
})
