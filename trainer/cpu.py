"""CPU bridge for megatron-core's CUDA assumptions.

megatron-core 0.16 hard-codes CUDA in ~20 places on the path of a GPT train step (RNG tracker,
``torch.cuda.current_device()`` for buffers, ``device='cuda'`` tensors, ``.cuda()`` copies and a
``'torch.cuda.FloatTensor'`` type assertion in grad clipping).  Everything needed to run it on
CPU with gloo lives here, in one module, so the rest of the trainer is device-agnostic.

``install()`` is called once per process, before any megatron object is built, and only when
``torch.cuda.is_available()`` is false.  It never changes behaviour on a CUDA machine.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

_INSTALLED = False
_MODE: "_CudaToCpuMode | None" = None


def _is_cuda(device: Any) -> bool:
    if isinstance(device, torch.device):
        return device.type == "cuda"
    if isinstance(device, str):
        return device.startswith("cuda")
    return False


def _fix_kwargs(kwargs: dict) -> dict:
    if "device" in kwargs and (_is_cuda(kwargs["device"]) or isinstance(kwargs["device"], int)):
        kwargs = dict(kwargs)
        kwargs["device"] = "cpu"
    if kwargs.get("pin_memory"):
        kwargs = dict(kwargs)
        kwargs["pin_memory"] = False
    return kwargs


class _CudaToCpuMode(TorchFunctionMode):
    """Redirects CUDA placements to CPU and answers CUDA type queries for CPU tensors."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "cuda":  # Tensor.cuda(...) -> stay on CPU
            return args[0]
        if name == "pin_memory":
            return args[0]
        if name == "to":
            args = tuple("cpu" if _is_cuda(a) else a for a in args)
            kwargs = _fix_kwargs(kwargs)
        elif name == "type" and len(args) == 1 and not kwargs:
            out = func(*args)
            return out.replace("torch.", "torch.cuda.", 1) if out.startswith("torch.") else out
        elif "device" in kwargs or "pin_memory" in kwargs:
            kwargs = _fix_kwargs(kwargs)
        return func(*args, **kwargs)


def _make_cpu_tracker_class():
    from megatron.core.tensor_parallel import random as mrandom

    class CpuRNGStatesTracker(mrandom.CudaRNGStatesTracker):
        """megatron's RNG tracker, keeping named CPU generator states instead of CUDA ones."""

        def add(self, name, seed):
            self._is_initialized = True
            if seed in self.seeds_:
                raise Exception(f"seed {seed} already exists")
            self.seeds_.add(seed)
            if name in self.states_:
                raise Exception(f"rng state {name} already exists")
            orig = torch.get_rng_state()
            torch.manual_seed(seed)
            self.states_[name] = torch.get_rng_state()
            torch.set_rng_state(orig)

        @contextlib.contextmanager
        def fork(self, name=mrandom._MODEL_PARALLEL_RNG_TRACKER_NAME):
            if name not in self.states_:
                raise Exception(f"rng state {name} is not added")
            orig = torch.get_rng_state()
            torch.set_rng_state(self.states_[name])
            try:
                yield
            finally:
                self.states_[name] = torch.get_rng_state()
                torch.set_rng_state(orig)

    return CpuRNGStatesTracker


def install() -> None:
    """Patch torch.cuda / megatron so megatron-core runs on CPU. Idempotent; no-op with CUDA."""
    global _INSTALLED, _MODE
    if _INSTALLED or torch.cuda.is_available():
        return
    from megatron.core.tensor_parallel import random as mrandom

    tracker_cls = _make_cpu_tracker_class()
    mrandom._CUDA_RNG_STATE_TRACKER = tracker_cls()
    mrandom._CUDA_RNG_STATE_TRACKER_INITIALIZED = True
    mrandom.CudaRNGStatesTracker = tracker_cls  # in case a force_reset re-creates it

    cuda = torch.cuda
    cuda.current_device = lambda: "cpu"
    cuda.synchronize = lambda *a, **k: None
    cuda.empty_cache = lambda *a, **k: None
    cuda.manual_seed = lambda seed: None  # the CPU tracker owns seeding
    cuda.manual_seed_all = lambda seed: None
    cuda.get_rng_state = lambda *a, **k: torch.get_rng_state()
    cuda.set_rng_state = lambda state, *a, **k: torch.set_rng_state(state)
    cuda.memory_allocated = lambda *a, **k: 0
    cuda.max_memory_allocated = lambda *a, **k: 0
    cuda.memory_reserved = lambda *a, **k: 0
    cuda.set_device = lambda *a, **k: None

    class _NullStream:  # streams/events: CPU work is synchronous
        def __init__(self, *a, **k):
            pass

        def wait_stream(self, *a, **k):
            pass

        def wait_event(self, *a, **k):
            pass

        def record_event(self, *a, **k):
            return _NullStream()

        def record(self, *a, **k):
            pass

        def synchronize(self):
            pass

        def query(self):
            return True

    cuda.Stream = _NullStream
    cuda.Event = _NullStream
    cuda.current_stream = lambda *a, **k: _NullStream()
    cuda.default_stream = lambda *a, **k: _NullStream()
    cuda.stream = lambda *a, **k: contextlib.nullcontext()

    _MODE = _CudaToCpuMode()
    _MODE.__enter__()  # stays pushed for the life of the process
    _INSTALLED = True


def installed() -> bool:
    """True when the CPU bridge is active in this process."""
    return _INSTALLED
