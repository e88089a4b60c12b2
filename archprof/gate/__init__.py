"""Stage 3, gates: regression checks of the user's own models, for their CI.

:mod:`.snapshot` writes and compares the baseline files (reviewable markdown, exact integers,
per-layer diffs); :mod:`.check` runs one model's gate (analysis, baseline, budgets from
:mod:`archprof.spec.budgets`, speed); :mod:`.speed` times a model against a fingerprinted
baseline (reference units on a CPU); :mod:`.render` prints results for terminals, PR pages and
machines; :mod:`.pytest_plugin` is the ``archprof_gate`` fixture; :mod:`.refclock` is the clock
pytest-benchmark uses for reference units. ``archprof gate`` is the command.
"""
