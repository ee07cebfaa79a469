"""Where a model runs: device, dtype, batch size (backing off when CUDA runs out of memory)."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch

from sumprobe.engine.config import DEVICES, DTYPES
from sumprobe.errors import ModelError

T = TypeVar("T")
R = TypeVar("R")

CPU_BATCH = 16
CUDA_START_BATCH = 128


def pick_device(requested: str | torch.device = "auto") -> torch.device:
    """CUDA, then MPS, then CPU; an explicit choice that is not available is an error. A
    device with an index ("cuda:1": a data-parallel process's own GPU, as accelerate names it)
    is taken as it is, its kind checked like the rest."""
    if isinstance(requested, torch.device):
        return requested
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    kind, _, index = requested.partition(":")
    if kind not in DEVICES or kind == "auto" or (index and not index.isdigit()):
        raise ModelError(f"unknown device {requested!r}; expected one of {', '.join(DEVICES)}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"--device {requested} was asked for, but torch sees no CUDA device")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ModelError(f"--device {requested} was asked for, but torch sees no MPS device")
    return torch.device(requested)


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    """bf16 (else fp16) on CUDA, fp32 elsewhere, unless a dtype is named."""
    if requested == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if requested not in DTYPES:
        raise ModelError(f"unknown dtype {requested!r}; expected one of {', '.join(DTYPES)}")
    return getattr(torch, requested)


def default_batch_size(device: torch.device) -> int:
    """The first batch size when none is given: large on CUDA (it backs off), modest on CPU."""
    return CUDA_START_BATCH if device.type == "cuda" else CPU_BATCH


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's malloc_trim, or None (another C library, another system)."""
    import ctypes
    import ctypes.util

    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM_EVERY = 2.0  # seconds: a trim walks the heap (~15 ms), too dear after every small batch
_last_trim = [0.0]


def release_freed_memory(engine) -> None:
    """On CPU, hand what batches freed back to the system, every few seconds. Batches of ever
    new padded lengths leave glibc holding freed blocks between the run's long-lived objects;
    trimmed, a tiny BERT over 20,000 records peaked at about 0.75 GB instead of 0.9-1.0 GB.
    On CUDA, torch's caching allocator is meant to keep its memory."""
    if torch.device(engine.device).type != "cpu":
        return
    now = time.monotonic()
    trim = _malloc_trim()
    if trim is not None and now - _last_trim[0] >= _TRIM_EVERY:
        trim(0)
        _last_trim[0] = time.monotonic()


def run_backing_off(engine, batch: Sequence[T], run: Callable[[Sequence[T]], list[R]]
                    ) -> list[R]:
    """`run` over one batch, in smaller slices after a CUDA out-of-memory error. The halved
    size is kept for the rest of the run (`engine.batch_size`) and each halving is counted
    (`engine.work["oom_backoffs"]`)."""
    answers: list[R] = []
    start = 0
    while start < len(batch):
        size = engine.batch_size
        chunk = batch[start : start + size]
        try:
            answers.extend(run(chunk))
            release_freed_memory(engine)
        except torch.cuda.OutOfMemoryError:
            if size == 1:
                raise ModelError("out of GPU memory even at batch size 1; try --dtype float16 "
                                 "or a smaller model") from None
            torch.cuda.empty_cache()
            engine.batch_size = max(1, size // 2)
            engine.work["oom_backoffs"] += 1
            continue
        start += len(chunk)
    return answers
