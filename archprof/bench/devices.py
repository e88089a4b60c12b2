"""Peak FLOP/s and memory bandwidth of the GPUs that MFU is computed against (datasheets, dense rates)."""
from __future__ import annotations

import re
from dataclasses import dataclass


# Device peaks (dense, i.e. without 2:4 sparsity). NVIDIA datasheets quote tensor-core rates
# "with sparsity"; the dense rate is half of that. FP32 is the CUDA-core (non-tensor) rate; TF32,
# BF16 and FP16 are tensor-core rates with FP32 accumulation (what PyTorch uses). Bandwidth is
# the memory bandwidth of the same datasheet, used for the roofline ridge point.
@dataclass(frozen=True)
class DevicePeak:
    name: str
    pattern: str                 # regex searched in torch.cuda.get_device_name()
    tflops: dict[str, float]     # dense peak TFLOP/s per precision
    bandwidth_gbs: float         # memory bandwidth, GB/s
    source: str


DEVICE_PEAKS: tuple[DevicePeak, ...] = (
    # NVIDIA H100 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/h100), "H100 NVL" column:
    # FP32 60, TF32 835*, BF16/FP16 1,671* TFLOPS (* sparse), 3.9 TB/s.
    DevicePeak("H100 NVL", r"H100.*NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}, 3900, "H100 datasheet, NVL column"),
    # Same datasheet, "H100 PCIe" column: FP32 51, TF32 756*, BF16/FP16 1,513*, 2.0 TB/s.
    DevicePeak("H100 PCIe", r"H100.*PCIe", {"fp32": 51.0, "tf32": 378.0, "bf16": 756.5, "fp16": 756.5}, 2000, "H100 datasheet, PCIe column"),
    # Same datasheet, "H100 SXM" column: FP32 67, TF32 989*, BF16/FP16 1,979*, 3.35 TB/s.
    # torch reports it as "NVIDIA H100 80GB HBM3".
    DevicePeak("H100 SXM", r"H100", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5}, 3350, "H100 datasheet, SXM column"),
    # NVIDIA H200 datasheet (nvidia.com/en-us/data-center/h200), "H200 NVL": FP32 60, TF32 835*, BF16/FP16 1,671*, 4.8 TB/s.
    DevicePeak("H200 NVL", r"H200.*NVL", {"fp32": 60.0, "tf32": 417.5, "bf16": 835.5, "fp16": 835.5}, 4800, "H200 datasheet, NVL column"),
    # Same datasheet, "H200 SXM": FP32 67, TF32 989*, BF16/FP16 1,979*, 4.8 TB/s (the H100 SXM compute with HBM3e).
    DevicePeak("H200 SXM", r"H200", {"fp32": 67.0, "tf32": 494.5, "bf16": 989.5, "fp16": 989.5}, 4800, "H200 datasheet, SXM column"),
    # NVIDIA A100 datasheet (nvidia.com/en-us/data-center/a100): FP32 19.5, TF32 156 (312*), BF16/FP16 312 (624*).
    # Bandwidth: 80GB SXM 2,039 GB/s, 80GB PCIe 1,935 GB/s, 40GB 1,555 GB/s.
    DevicePeak("A100 80GB PCIe", r"A100.*80GB.*PCIe|A100.*PCIe.*80GB", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}, 1935, "A100 datasheet"),
    DevicePeak("A100 80GB", r"A100.*80GB", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}, 2039, "A100 datasheet"),
    DevicePeak("A100 40GB", r"A100", {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0}, 1555, "A100 datasheet"),
    # NVIDIA L40S datasheet: FP32 91.6, TF32 183 (366*), BF16/FP16 362.05 (733*), 864 GB/s.
    DevicePeak("L40S", r"L40S", {"fp32": 91.6, "tf32": 183.0, "bf16": 362.05, "fp16": 362.05}, 864, "L40S datasheet"),
    # NVIDIA L4 datasheet: FP32 30.3, TF32 120*, BF16/FP16 242*, 300 GB/s.
    DevicePeak("L4", r"\bL4\b", {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0}, 300, "L4 datasheet"),
    # NVIDIA A10 datasheet: FP32 31.2, TF32 62.5 (125*), BF16/FP16 125 (250*), 600 GB/s.
    DevicePeak("A10", r"\bA10\b", {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0}, 600, "A10 datasheet"),
    # NVIDIA Ada Lovelace architecture whitepaper, appendix table (GeForce RTX 4090): FP32 82.6,
    # TF32 82.6 (165.2*), FP16/BF16 tensor with FP32 accumulate 165.2 (330.4*), 1,008 GB/s.
    DevicePeak("RTX 4090", r"RTX 4090", {"fp32": 82.6, "tf32": 82.6, "bf16": 165.2, "fp16": 165.2}, 1008, "Ada Lovelace whitepaper"),
    # NVIDIA Ampere GA102 whitepaper (GeForce RTX 3090): FP32 35.6, TF32 35.6 (71*), FP16/BF16 with FP32 accumulate 71 (142*), 936 GB/s.
    DevicePeak("RTX 3090", r"RTX 3090", {"fp32": 35.6, "tf32": 35.6, "bf16": 71.0, "fp16": 71.0}, 936, "Ampere GA102 whitepaper"),
    # NVIDIA V100 datasheet: SXM2 FP32 15.7, tensor FP16 125, 900 GB/s; PCIe FP32 14, tensor 112. No TF32 or BF16.
    DevicePeak("V100 PCIe", r"V100.*PCIE|V100.*PCIe", {"fp32": 14.0, "fp16": 112.0}, 900, "V100 datasheet, PCIe"),
    DevicePeak("V100 SXM2", r"V100", {"fp32": 15.7, "fp16": 125.0}, 900, "V100 datasheet, SXM2"),
    # NVIDIA T4 datasheet: FP32 8.1, FP16 tensor 65, 320 GB/s. No TF32 or BF16.
    DevicePeak("T4", r"\bT4\b", {"fp32": 8.1, "fp16": 65.0}, 320, "T4 datasheet"),
)


def device_peak(device_name: str) -> DevicePeak | None:
    """The table entry of a CUDA device name (first matching pattern), or None."""
    for entry in DEVICE_PEAKS:
        if re.search(entry.pattern, device_name):
            return entry
    return None
