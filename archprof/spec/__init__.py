"""Stage 1, the spec language: YAML files → validated :class:`Spec` → resolved :class:`~archprof.spec.plan.Plan`
→ ``nn.Module``.

Everything up to the plan is pure Python (no torch): loading (:mod:`.yamlsrc`, :mod:`.load`),
the file model (:mod:`.schema`) and its JSON Schema for editors (:mod:`.editor_schema`), bounded expressions (:mod:`.expr`), the op
registry (:mod:`.registry`; the ops themselves are in :mod:`archprof.ops`), the resolver that
unrolls loops and checks every shape (:mod:`.plan`), weight-init schemes (:mod:`.init`),
training recipes (:mod:`.recipe`) and the zoo table (:mod:`.zoo`). :mod:`.compiler` and
:mod:`.modules` turn a plan into torch modules.
"""
from archprof.spec.editor_schema import json_schema
from archprof.spec.load import bundled_dir, find, load_spec, zoo_names
from archprof.spec.schema import Figure, Paper, Reference, Spec, SpecFile

__all__ = ["Figure", "Paper", "Reference", "Spec", "SpecFile", "bundled_dir", "find", "json_schema", "load_spec", "zoo_names"]
