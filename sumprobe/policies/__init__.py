"""Summarization policies by name: `title`, `lead-2`, `reference`, `data` (no model),
`zero-shot`, `few-shot` (a causal LM, `--model`), or a model folder (a trained policy).
`sumprobe summarize` writes their summaries as `systems` data; `sumprobe rank` judges them."""

from __future__ import annotations

from pathlib import Path

from sumprobe.policies import extractive, prompted
from sumprobe.policies.base import Document, Policy, Settings, Written, documents_of

__all__ = ["Document", "Policy", "Settings", "Written", "documents_of", "get", "names"]

_BUILT_IN = {policy.name: policy for policy in (*extractive.POLICIES, *prompted.POLICIES)}


def names() -> list[str]:
    return list(_BUILT_IN)


def get(name: str) -> Policy:
    """The policy called `name`, or the trained model in the folder `name`; a ValueError
    names the known policies otherwise."""
    if name in _BUILT_IN:
        return _BUILT_IN[name]
    if Path(name).is_dir():
        return prompted.Trained(name)
    raise ValueError(f"unknown policy {name!r}: give one of {', '.join(names())}, or a model "
                     "folder (a trained policy)")
