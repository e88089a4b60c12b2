"""The model on its device and precision, and the inference and training steps that are timed."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from archprof.bench.env import Numerics, is_cuda
from archprof.bench.options import BenchOptions
from archprof.errors import ArchprofError


@dataclass
class Workload:
    """The model and everything its steps need, for one device and precision."""

    model: nn.Module
    device: torch.device
    shape: tuple[int, ...]
    num: Numerics
    channels_last: bool
    compile: str | None
    timm_compat: bool

    def autocast(self):
        if self.num.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.num.autocast)

    def input(self, batch: int) -> torch.Tensor:
        gen = torch.Generator(device=self.device).manual_seed(batch)
        x = torch.randn((batch, *self.shape), device=self.device, dtype=self.num.model_dtype, generator=gen)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def compiled(self, module: nn.Module) -> Callable:
        if not self.compile:
            return module
        return torch.compile(module, mode=None if self.compile == "default" else self.compile, dynamic=False)

    def _mark_step(self) -> None:
        # CUDA-graph compile modes reuse output buffers: tell them a new step begins.
        if self.compile and is_cuda(self.device) and hasattr(torch, "compiler") and hasattr(torch.compiler, "cudagraph_mark_step_begin"):
            torch.compiler.cudagraph_mark_step_begin()

    def infer_step(self, batch: int) -> Callable[[], Any]:
        self.model.eval()
        fn = self.compiled(self.model)
        x = self.input(batch)

        def step():
            self._mark_step()
            with torch.no_grad(), self.autocast():
                return fn(x)

        return step

    def train_step(self, batch: int) -> Callable[[], Any]:
        self.model.train()
        fn = self.compiled(self.model)
        x = self.input(batch)
        params = [p for p in self.model.parameters() if p.requires_grad]
        # timm's benchmark.py: create_optimizer_v2(opt="sgd", lr=1e-4) = SGD, nesterov, momentum 0.9.
        opt = torch.optim.SGD(params, lr=1e-4, momentum=0.9, nesterov=self.timm_compat)
        scaler = torch.amp.GradScaler(self.device.type) if self.num.grad_scaler else None
        loss_fn = nn.CrossEntropyLoss()
        state: dict[str, Any] = {}

        def loss_of(out):
            if isinstance(out, (tuple, list)):
                out = out[0]
            if out.dim() == 2:
                classes = out.shape[1]
                if self.timm_compat:   # timm draws new targets inside the timed step
                    target = torch.empty(out.shape[0], device=out.device, dtype=torch.long).random_(classes)
                else:
                    target = state.get("target")
                    if target is None:
                        gen = torch.Generator(device=out.device).manual_seed(0)
                        target = state["target"] = torch.randint(0, classes, (out.shape[0],), device=out.device, generator=gen)
                return loss_fn(out.float(), target)
            return out.float().square().mean()

        def step():
            self._mark_step()
            opt.zero_grad(set_to_none=True)
            with self.autocast():
                loss = loss_of(fn(x))
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()

        step.optimizer = opt  # type: ignore[attr-defined]  (freed after OOM)
        return step


def build_workload(src, device: torch.device, shape: tuple[int, ...], opts: BenchOptions, num: Numerics) -> Workload:
    torch.manual_seed(0)
    try:
        with torch.device(device):
            model = src.build()
    except ArchprofError:
        raise
    except Exception:  # noqa: BLE001 - some constructors compute on the CPU: build there, then move
        model = src.build().to(device)
    model = model.to(device=device, dtype=num.model_dtype)
    if opts.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return Workload(model, device, shape, num, opts.channels_last, opts.compile, opts.timm_compat)
