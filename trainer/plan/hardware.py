"""GPU peak throughput and memory for wall-time and layout estimates."""

from __future__ import annotations

from dataclasses import dataclass

from trainer.config import PEAK_BF16_FLOPS

# Memory per GPU in GB (1e9 bytes) of the common SKUs: A100 80GB, H100 SXM 80GB, H200 141GB.
GPU_MEMORY_GB = {"a100": 80.0, "h100": 80.0, "h200": 141.0}


class HardwareError(ValueError):
    """Unknown GPU without explicit numbers."""


@dataclass
class Gpu:
    name: str
    peak_flops: float  # dense bf16 FLOP/s per GPU
    memory_bytes: float | None


def known_gpus() -> list[str]:
    return sorted(k.lower() for k in PEAK_BF16_FLOPS)


def resolve_gpu(name: str | None, peak_flops: float | None, gpu_mem_gb: float | None) -> Gpu:
    """The GPU named (h100/a100/h200, any case) with explicit numbers taking precedence."""
    label = (name or "h100").lower()
    peak = peak_flops if peak_flops is not None else PEAK_BF16_FLOPS.get(label.upper())
    if peak is None:
        raise HardwareError(f"unknown GPU {name!r} (known: {', '.join(known_gpus())}); give its "
                            f"dense bf16 peak with --peak-flops (e.g. 989e12) and its memory "
                            f"with --gpu-mem GB")
    if peak <= 0:
        raise HardwareError(f"--peak-flops must be positive, got {peak:g}")
    mem = gpu_mem_gb if gpu_mem_gb is not None else GPU_MEMORY_GB.get(label)
    if mem is not None and mem <= 0:
        raise HardwareError(f"--gpu-mem must be positive, got {mem:g}")
    return Gpu(label, float(peak), mem * 1e9 if mem is not None else None)
