"""Reference training: a plain, seedable loop with checkpoints that survive being killed.

Each epoch ends with one atomically written checkpoint (``last.safetensors``) holding weights,
optimizer, EMA and RNG state; the best epoch by held-out accuracy is kept beside it
(``best.safetensors``). ``--resume`` continues from ``last`` and, because every epoch draws its
data order and dropout masks from ``seed + epoch``, ends with the same metrics as a run that was
never interrupted. Under ``torchrun`` the same loop runs DistributedDataParallel (gloo on CPU,
nccl on GPU); every rank sees the batches a single process would see, split between ranks.

Recipe parts come from maintained libraries: timm's Mixup/CutMix, EMA, cosine schedule with
warm-up and soft-target loss; torchvision's RandAugment, random erasing, crops and flips.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from archprof.errors import ArchprofError
from archprof.files import write_bytes_atomic, write_text_atomic
from archprof.spec import Spec
from archprof.spec.recipe import TrainConfig
from archprof.train import checkpoint
from archprof.train.data import Data, open_data
from archprof.train.progress import EpochBar, log


@dataclass
class Epoch:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    images_per_s: float
    seconds: float


@dataclass
class TrainResult:
    out: Path
    history: list[Epoch] = field(default_factory=list)

    @property
    def final(self) -> Epoch:
        return self.history[-1]

    @property
    def best(self) -> Epoch:
        return max(self.history, key=lambda e: e.val_acc)


# -- set-up ---------------------------------------------------------------------------------
def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ArchprofError("--device cuda: no CUDA device is available")
    return torch.device(name)


def _world() -> tuple[int, int]:
    return int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))


def model_for(spec: Spec, data: Data, drop_path: float | None = None) -> tuple[Spec, nn.Module]:
    """The spec with its classifier sized for the data (and the recipe's drop path, if any)."""
    import archprof

    updates = {}
    if "num_classes" in spec.params:
        updates["num_classes"] = data.num_classes
    for name in ("drop_path_rate", "stochastic_depth_prob"):
        if drop_path is not None and name in spec.params:
            updates[name] = drop_path
    spec = spec.model_copy(update={"params": {**spec.params, **updates}}) if updates else spec
    from archprof.spec.compiler import compile_plan

    plan = archprof.resolve(spec)
    model = compile_plan(plan)
    out = plan.root.out_shape
    if out != (data.num_classes,):
        raise ArchprofError(f"{spec.name} outputs {out}, but {data.name} has {data.num_classes} classes (the spec has no num_classes parameter)")
    return spec, model


class PCALighting(nn.Module):
    """AlexNet's colour augmentation (Krizhevsky et al. 2012, §4.1): add multiples of the RGB
    principal components with N(0, σ) weights. Written here because neither torchvision nor timm
    ships it; eigen-values/vectors are the ImageNet ones published with fb.resnet.torch."""

    EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
    EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])

    def __init__(self, sigma: float):
        super().__init__()
        self.sigma = sigma

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self.sigma <= 0 or image.shape[0] != 3:
            return image
        alpha = torch.randn(3) * self.sigma
        return image + (self.EIGVEC @ (alpha * self.EIGVAL)).view(3, 1, 1)


class _Augmented(Dataset):
    def __init__(self, base: Dataset, transform):
        self.base, self.transform = base, transform

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i):
        image, label = self.base[i]
        return self.transform(image), label


def _augmentation(config: TrainConfig, shape: tuple[int, ...]):
    if not (config.crop_flip or config.randaugment or config.pca_lighting or config.random_erasing):
        return None  # no torchvision import (1.5 s on two cores) for a run without augmentation
    from torchvision.transforms import v2

    steps: list = []
    if config.crop_flip:
        steps += [v2.RandomCrop(shape[1:], padding=max(1, shape[-1] // 8)), v2.RandomHorizontalFlip()]
    if config.randaugment:
        steps.append(v2.Lambda(_randaugment))
    if config.pca_lighting:
        steps.append(PCALighting(config.pca_lighting))
    if config.random_erasing:
        steps.append(v2.RandomErasing(config.random_erasing))
    return v2.Compose(steps) if steps else None


def _randaugment(image: torch.Tensor) -> torch.Tensor:
    """torchvision's RandAugment works on uint8 images: map the normalised tensor there and back."""
    from torchvision.transforms import v2

    low, high = image.amin(), image.amax()
    scaled = ((image - low) / (high - low + 1e-6) * 255).round().to(torch.uint8)
    out = v2.RandAugment()(scaled).float() / 255
    return out * (high - low + 1e-6) + low


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)  # no weight decay on biases and norms
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # foreach: one kernel per step for all tensors, also on the CPU (torch's default there is a
    # loop over tensors, a tenth of a small model's step time)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, foreach=True)
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, foreach=True)


def _scheduler(optimizer, config: TrainConfig, steps_per_epoch: int):
    from timm.scheduler import CosineLRScheduler

    if config.schedule == "constant" and not config.warmup_epochs:
        return None
    total = config.epochs * steps_per_epoch
    warmup = int(config.warmup_epochs * steps_per_epoch)
    return CosineLRScheduler(
        optimizer, t_initial=total if config.schedule == "cosine" else 10**12, lr_min=0.0,
        warmup_t=warmup, warmup_lr_init=config.lr * 1e-3 if warmup else config.lr, warmup_prefix=True, t_in_epochs=False,
    )


# -- checkpoints ----------------------------------------------------------------------------
def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _save(path: Path, model, optimizer, ema, epoch: int, history: list[Epoch], meta: dict) -> None:
    tensors = {f"model.{k}": v for k, v in _unwrap(model).state_dict().items()}
    opt = optimizer.state_dict()
    for index, state in opt["state"].items():
        for key, value in state.items():
            tensors[f"optim.{index}.{key}"] = value if isinstance(value, torch.Tensor) else torch.tensor(value)
    if ema is not None:
        tensors.update({f"ema.{k}": v for k, v in ema.module.state_dict().items()})
    tensors["rng.cpu"] = torch.get_rng_state()
    data = {**meta, "epoch": epoch, "history": [dataclasses.asdict(h) for h in history], "param_groups": opt["param_groups"]}
    checkpoint.save(path, tensors, data)


def _restore(path: Path, model, optimizer, ema, spec: Spec, config: TrainConfig) -> tuple[int, list[Epoch]]:
    tensors, meta = checkpoint.load(path)
    if meta.get("spec_digest") != spec.digest():
        raise ArchprofError(f"{path}: checkpoint is for another spec ({meta.get('spec')}, {meta.get('spec_digest')})")
    if meta.get("config", {}).get("seed") != config.seed:
        raise ArchprofError(f"{path}: checkpoint was trained with seed {meta.get('config', {}).get('seed')}, not {config.seed}")
    _unwrap(model).load_state_dict(checkpoint.model_state(tensors))
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, index, name = key.split(".", 2)
            state.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    if ema is not None:
        ema.module.load_state_dict(checkpoint.model_state(tensors, "ema."))
    return meta["epoch"] + 1, [Epoch(**h) for h in meta["history"]]


# -- the loop -------------------------------------------------------------------------------
def _evaluate(model: nn.Module, loader: DataLoader, device, amp) -> tuple[float, float]:
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    with torch.no_grad(), amp():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x).float()
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            count += len(y)
    return loss_sum / max(count, 1), correct / max(count, 1)




def train(spec: Spec, data_name: str, config: TrainConfig, out: Path, resume: bool = False,
          input_shape: tuple[int, ...] | None = None, bad_images: str = "refuse") -> TrainResult:
    """Train ``spec`` on ``data_name`` (at ``input_shape``, default the spec's); checkpoints and curves go to ``out``.

    Nothing is built before the data is open and the analyser's memory estimate is known to fit.
    Each epoch writes ``best.safetensors`` (when it is the best), then ``last.safetensors``, then
    ``history.json`` and ``curves.png``; a resume rewrites the last two from ``last``, so a run
    killed anywhere resumes to complete files. The run folder is locked for the run's duration."""
    if input_shape is not None:
        spec = spec.model_copy(update={"input": list(input_shape)})
    import archprof

    world, rank = _world()
    device = _device(config.device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if config.batch_size % world:
        raise ArchprofError(f"--batch-size {config.batch_size} must be divisible by the {world} processes")
    out = Path(out)
    torch.manual_seed(config.seed)
    plan = archprof.resolve(spec)
    data = open_data(data_name, plan.input_shape, bad_images)
    _check_memory(spec, data, config, device, world)
    lock = _lock(out) if rank == 0 else None
    if rank == 0:  # after every refusal, which is one line alone
        log(f"data {data.describe()}")
    spec, model = model_for(spec, data, config.drop_path)
    model.to(device)
    cuda = device.type == "cuda"
    # channels-last is faster for convolutions on GPUs and on CPUs alike (1.3-1.6x per step on
    # the zoo's conv nets on a CPU); only the memory layout changes, not the computation
    images = len(plan.input_shape) == 3
    if images:
        model = model.to(memory_format=torch.channels_last)
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else (lambda: torch.autocast("cpu", enabled=False))

    augment = _augmentation(config, plan.input_shape)
    train_set = _Augmented(data.train, augment) if augment else data.train
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=config.seed, drop_last=True)
    loader = DataLoader(train_set, batch_size=config.batch_size // world, sampler=sampler, num_workers=config.workers, drop_last=True)
    test_loader = DataLoader(data.test, batch_size=256, num_workers=config.workers)
    steps = len(loader) if config.steps_per_epoch is None else min(len(loader), config.steps_per_epoch)
    if steps == 0:
        raise ArchprofError(f"{data.name}: fewer training images ({len(data.train)}) than one batch ({config.batch_size})")
    if rank == 0:  # before the optimizer's and scheduler's imports (timm imports torchvision: 1.5 s)
        params = sum(p.numel() for p in model.parameters())
        log(f"model {spec.name}: {params:,} parameters, input {'x'.join(map(str, plan.input_shape))}, on {device}"
            f"{f' x{world}' if world > 1 else ''}; {config.epochs} epochs of {steps} steps of {config.batch_size} images")

    optimizer = _optimizer(model, config)
    scheduler = _scheduler(optimizer, config, steps)
    mixup = None
    if config.mixup or config.cutmix:
        from timm.data import Mixup

        mixup = Mixup(mixup_alpha=config.mixup, cutmix_alpha=config.cutmix, label_smoothing=config.label_smoothing, num_classes=data.num_classes)
    if mixup is not None:
        from timm.loss import SoftTargetCrossEntropy

        criterion: nn.Module = SoftTargetCrossEntropy()
    else:
        criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    ema = None
    if config.ema:
        from timm.utils import ModelEmaV3

        ema = ModelEmaV3(model, decay=config.ema)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model)

    meta = {"spec": spec.name, "spec_digest": spec.digest(), "data": data.name, "classes": data.classes,
            "input_shape": list(plan.input_shape), "config": dataclasses.asdict(config), "versions": checkpoint.versions(), "world_size": world}
    start, history = 0, []
    last_path, best_path = out / "last.safetensors", out / "best.safetensors"
    if resume and last_path.exists():
        start, history = _restore(last_path, model, optimizer, ema, spec, config)
        if rank == 0:
            if start >= config.epochs:
                log(f"{spec.name} already finished its {config.epochs} epochs in {out}; its files are brought up to date")
                _complete(out, history, last_path, best_path)
            else:
                _write_history(out, history)
                log(f"resuming {spec.name} at epoch {start + 1}/{config.epochs} from {last_path}")
    elif resume:
        log(f"no checkpoint at {last_path}: starting from scratch")

    for epoch in range(start, config.epochs):
        sampler.set_epoch(epoch)
        torch.manual_seed(config.seed * 100_003 + epoch)  # dropout/augmentation draws depend on the epoch only
        model.train()
        began, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        bar = EpochBar(epoch + 1, config.epochs, steps, show=None if rank == 0 else False)
        for step, (x, y) in enumerate(bar.running(loader)):
            x, y = x.to(device), y.to(device)
            if images:
                x = x.to(memory_format=torch.channels_last)
            target = y
            if mixup is not None:
                x, target = mixup(x, y)
            with amp():
                logits = model(x)
                loss = criterion(logits.float(), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step_update(epoch * steps + step + 1)
            if ema is not None:
                ema.update(_unwrap(model))
            value = loss.item()
            loss_sum += value * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            bar.step(value, len(y))
        totals = torch.tensor([loss_sum, correct, seen], dtype=torch.float64)
        if world > 1:
            dist.all_reduce(totals)
        elapsed = time.perf_counter() - began
        evaluated = ema.module if ema is not None else _unwrap(model)
        val_loss, val_acc = _evaluate(evaluated, test_loader, device, amp)
        record = Epoch(epoch + 1, totals[0].item() / totals[2].item(), totals[1].item() / totals[2].item(), val_loss, val_acc,
                       optimizer.param_groups[0]["lr"], totals[2].item() / elapsed, elapsed)
        history.append(record)
        if rank == 0:
            log(f"epoch {record.epoch}/{config.epochs}  loss {record.train_loss:.4f}  acc {record.train_acc:.2%}  "
                 f"val loss {record.val_loss:.4f}  val acc {record.val_acc:.2%}  {record.images_per_s:,.0f} img/s")
            if record.val_acc >= max(h.val_acc for h in history):
                _save(best_path, model, optimizer, ema, epoch, history, meta)
            _save(last_path, model, optimizer, ema, epoch, history, meta)   # after best: a resume never needs this epoch's best
            _write_history(out, history, curves=epoch + 1 == config.epochs or elapsed >= CURVES_EVERY_S)  # rewritten on resume
    if world > 1:
        dist.barrier()
    if lock is not None:
        lock.close()
    return TrainResult(out, history)


def _check_memory(spec: Spec, data, config: TrainConfig, device, world: int) -> None:
    from archprof.analysis import analyze
    from archprof.bench.fit import check_fits

    sized = spec.model_copy(update={"params": {**spec.params, "num_classes": data.num_classes}}) if "num_classes" in spec.params else spec
    totals = analyze(sized).totals
    check_fits(totals, "train", config.batch_size // world, device, f"training {spec.name}", config.optimizer)


def _lock(out: Path):
    """An exclusive lock on the run folder, held until the run ends: a second run there is refused."""
    import fcntl

    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / ".archprof-train.lock", "a+")
    except OSError as exc:
        raise ArchprofError(f"{out}: cannot use the run folder ({exc.strerror})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip()
        handle.close()
        raise ArchprofError(f"{out}: another archprof train is using this run folder{f' (pid {holder})' if holder else ''}; "
                            "wait for it or give another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _complete(out: Path, history: list[Epoch], last_path: Path, best_path: Path) -> None:
    """Complete a finished run whose last epoch died after last.safetensors: history and curves
    from the checkpoint, and best.safetensors from last when the final epoch is the best one and
    best is older (runs of earlier versions wrote best after last)."""
    _write_history(out, history)
    best_epoch = max(range(len(history)), key=lambda i: (history[i].val_acc, i))
    if best_epoch == len(history) - 1:
        recorded = checkpoint.load(best_path)[1].get("epoch") if best_path.exists() else None
        if recorded != best_epoch:
            write_bytes_atomic(best_path, last_path.read_bytes())


CURVES_EVERY_S = 30.0  # drawing curves.png takes about 0.6 s: redrawn after epochs this long, and at the end


def _write_history(out: Path, history: list[Epoch], curves: bool = True) -> None:
    write_text_atomic(out / "history.json", json.dumps([dataclasses.asdict(h) for h in history], indent=2) + "\n")
    if curves:
        from archprof.train.plots import learning_curves

        learning_curves(history, out / "curves.png")
