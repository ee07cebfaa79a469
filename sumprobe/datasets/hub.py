"""Whether the Hugging Face Hub answers, checked once per process (3 s at most).

Without it, a missing model or data set costs ~25-40 s of retries and raw network lines before
the error. When the Hub does not answer, this process goes offline (HF_HUB_OFFLINE, and
HF_DATASETS_OFFLINE for data): what is already in the local Hub cache still loads, and anything
else fails at once.
"""

from __future__ import annotations

import os

_checked: list[bool] = []  # [answered] once checked


def _set(variable: str) -> bool:
    return os.environ.get(variable, "0") not in ("", "0")


def reachable() -> bool:
    """Whether the Hub's endpoint accepts a connection (checked once; HF_ENDPOINT honoured)."""
    import socket
    from urllib.parse import urlparse

    if not _checked:
        endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
        try:
            socket.create_connection((endpoint.hostname, endpoint.port or 443), timeout=3).close()
            _checked.append(True)
        except OSError:
            _checked.append(False)
    return _checked[0]


def offline_unless_reachable(*, data: bool = False) -> None:
    """Go offline for this process when the Hub does not answer (models; with `data`, data
    sets too). Nothing is checked when the user already chose offline."""
    variables = ["HF_HUB_OFFLINE"] + (["HF_DATASETS_OFFLINE"] if data else [])
    if all(_set(v) for v in variables) or reachable():
        return
    for variable in variables:
        os.environ[variable] = "1"
    try:  # the libraries read the variables when imported; tell them too if they were
        import huggingface_hub.constants as hub

        hub.HF_HUB_OFFLINE = True
    except (ImportError, AttributeError):
        pass
    if data:
        try:
            import datasets.config

            datasets.config.HF_HUB_OFFLINE = True
            datasets.config.HF_DATASETS_OFFLINE = True
        except (ImportError, AttributeError):
            pass


def was_unreachable() -> bool:
    """Whether this process found the Hub silent (and so went offline itself)."""
    return bool(_checked) and not _checked[0]
