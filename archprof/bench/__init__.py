"""Stage 3, benchmarks: honest throughput, latency, memory and MFU of a model on a GPU or the CPU.

What "honest" means here:

* every measured configuration (mode x batch size) gets its own warm-up, so cuDNN's autotuner
  (``cudnn.benchmark``, which tunes per input shape) and the caching allocator settle first;
* ``torch.compile`` time is the first call of the compiled model, reported on its own and never
  part of a timed step;
* GPU steps are timed with CUDA events around each step (one synchronisation after the loop, so
  timing adds no bubbles); CPU steps with ``time.perf_counter``; latency always with a
  synchronised ``perf_counter`` (what a caller waits for);
* results are the median over many steps, with the spread (10th and 90th percentile);
* MFU = achieved FLOP/s / peak FLOP/s, where achieved FLOP/s uses the analyser's MACs
  (``2 * MACs`` per image for inference, ``3x`` that for a training step: forward + backward), and
  the peak comes from :data:`~archprof.bench.devices.DEVICE_PEAKS` (datasheet, dense) and from a
  matmul probe measured in the same run (both reported; the CPU has only the probe);
* every result carries a fingerprint: device, driver, CUDA, cuDNN, torch, precision flags
  (TF32), compile mode, batch size and memory layout, so numbers are only compared like for like.

``--timm-compat`` switches to the protocol of timm's ``benchmark.py`` (see
:data:`~archprof.bench.options.TIMM_PROTOCOL`).

Modules: :mod:`.options` (what is asked and returned; no torch), :mod:`.devices` (peak table),
:mod:`.env` (device, precision flags, fingerprint), :mod:`.probes`, :mod:`.memory`,
:mod:`.timing`, :mod:`.workload` (the timed steps), :mod:`.runner` (the benchmark),
:mod:`.render`, :mod:`.record` (files for ``archprof report``) and :mod:`.profile` (profiler traces).
"""
from archprof._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "BenchOptions": "options",
    "BenchResult": "options",
    "Schedule": "options",
    "CPU_SCHEDULE": "options",
    "GPU_SCHEDULE": "options",
    "TIMM_SCHEDULE": "options",
    "PRECISIONS": "options",
    "MODES": "options",
    "COMPILE_MODES": "options",
    "DEVICE_PEAKS": "devices",
    "DevicePeak": "devices",
    "device_peak": "devices",
    "Timing": "timing",
    "percentile": "timing",
    "time_steps": "timing",
    "run_bench": "runner",
    "measure": "runner",
    "sweep": "runner",
    "report_record": "record",
    "write_report_record": "record",
})
