"""Engines: a model family behind the small capabilities that measures call.

`build_engine` (the one factory) reads the model's config, picks the family (masked or causal)
and wraps model and tokenizer in that family's engine, with the scoring cache of that model
setting. What an engine can do is declared in
`sumprobe.engine.capabilities`; a measure asks for a capability, never for a family.
Importing this package does not import torch or transformers (the CLI starts fast).
"""

from __future__ import annotations

from pathlib import Path

from sumprobe.engine.base import Cloze, Engine, Prediction
from sumprobe.engine.config import DEVICES, DTYPES, MODEL_TYPES, ModelConfig
from sumprobe.engine.loading import ModelSource, resolve_model
from sumprobe.errors import ModelError

__all__ = ["Cloze", "Engine", "Prediction", "ModelConfig", "ModelSource", "resolve_model",
           "build_engine", "cached_engine", "load_engine", "preflight", "MODEL_TYPES",
           "DEVICES", "DTYPES"]


def detect_model_type(config) -> str:
    """masked or causal, from the config's architectures, else from the model type's mappings."""
    architectures = getattr(config, "architectures", None) or []
    for architecture in architectures:
        if architecture.endswith("ForMaskedLM"):
            return "masked"
        if architecture.endswith(("ForCausalLM", "LMHeadModel")):
            return "causal"
    heads = [a for a in architectures if "For" in a and not a.endswith("ForPreTraining")]
    if heads:  # trained for something else (a classifier): neither family would have a head
        raise ModelError(f"the model is a {', '.join(heads)}, not a language model: its "
                         "language-model output layer would be newly initialised (random "
                         "predictions) as a masked or a causal LM; pass a masked LM (e.g. "
                         "bert-base-uncased) or a causal LM (e.g. gpt2) with --model")
    from transformers.models.auto.modeling_auto import (  # only when architectures say nothing
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", None)
    masked = model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    causal = model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if masked != causal:
        return "masked" if masked else "causal"
    raise ModelError(
        f"cannot tell whether model type {model_type!r} is masked or causal; "
        "pass --model-type masked or --model-type causal"
    )


def preflight(model: str, model_type: str, needs: set[str]) -> str:
    """The model family ("masked" or "causal") from its config alone, before any weights load;
    a ModelError when it cannot serve what the measures `needs`, or when the asked family
    would put a freshly initialised head on it (a classifier read as a masked LM)."""
    from sumprobe.engine.capabilities import MODEL_TYPES_FOR
    from sumprobe.engine.loading import config_fields

    config = config_fields(resolve_model(model))
    detected = detect_model_type(config) if model_type == "auto" else model_type
    architectures = getattr(config, "architectures", None) or []
    suffix = {"masked": "ForMaskedLM", "causal": ("ForCausalLM", "LMHeadModel")}[detected]
    if architectures and not any(a.endswith(suffix) for a in architectures):
        raise ModelError(f"{model} is a {', '.join(architectures)}: as a {detected} LM its "
                         "output layer would be newly initialised (random predictions); pass "
                         f"a model trained as a {detected} LM")
    for need in sorted(needs):
        families = MODEL_TYPES_FOR.get(need)
        if families and detected not in families:
            kind = "masked LM (e.g. bert-base-uncased)" if families == ("masked",) else \
                "causal LM (e.g. gpt2)"
            raise ModelError(f"the measure needs a {kind}; {model} is a {detected} LM: pass "
                             "such a model with --model")
    return detected


def build_engine(config: ModelConfig, family: str | None = None):
    """The one engine factory: the model and tokenizer of `config`, wrapped in the engine of
    their family (`family`, else `config.model_type`, "auto": from the model's config), with
    the scoring cache of this model setting (`config.cache_path`; None: none) opened first."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    from sumprobe.engine.causal import CausalEngine
    from sumprobe.engine.device import default_batch_size, pick_device, pick_dtype
    from sumprobe.engine.loading import load_model_config, load_tokenizer, load_weights
    from sumprobe.engine.masked import MaskedEngine, require_mask_token

    family = family or config.model_type
    if family not in MODEL_TYPES:
        raise ModelError(f"unknown model type {family!r}; expected one of {MODEL_TYPES}")
    source = resolve_model(config.model)
    torch_device = pick_device(config.device)
    torch_dtype = pick_dtype(config.dtype, torch_device)
    if family == "auto":
        family = detect_model_type(load_model_config(source))
    tokenizer = load_tokenizer(source, pad=False)
    if family == "masked":
        require_mask_token(tokenizer, source.name)  # before the (slower) weights load
    auto = AutoModelForMaskedLM if family == "masked" else AutoModelForCausalLM
    network = load_weights(source, auto, torch_dtype)
    network.to(torch_device)
    cache = None
    if config.cache_path is not None:
        cache = _open_cache(config.cache_path, source, getattr(network.config, "_commit_hash",
                                                                None),
                            family, str(torch_dtype).removeprefix("torch."), torch_device.type)
    engine_class = MaskedEngine if family == "masked" else CausalEngine
    return engine_class(network, tokenizer, source.name,
                        config.batch_size or default_batch_size(torch_device), cache=cache)


def load_engine(model: str, *, model_type: str = "auto", device: str = "auto",
                dtype: str = "auto", batch_size: int | None = None, cache: str | None = None):
    """`build_engine` from keyword settings (cache: a SQLite file; None: no cache)."""
    return build_engine(ModelConfig(model, model_type, device, dtype, batch_size, cache,
                                    use_cache=cache is not None))


def _open_cache(path: str, source, revision, family: str, dtype: str, device_type: str):
    """The cache bound to this model setting (the one place its identity is put together)."""
    from sumprobe.engine.cache import open_for_model

    # A de-quantized copy keeps the GGUF file's entries: a run resumed after the first one
    # made the copy reads what that run scored.
    local, gguf = source.path if source.local else None, source.gguf_file
    if source.gguf_origin:
        local, gguf = str(Path(source.gguf_origin).parent), Path(source.gguf_origin).name
    return open_for_model(path, name=source.name, local_path=local, gguf_file=gguf,
                          revision=revision, family=family, dtype=dtype, device=device_type)


class CachedEngine(Engine):
    """An engine that only reads the scoring cache: for a rerun whose every block of records
    is cached, which then needs no weights at all. Any model call is a bug, so it has none."""

    cache_only = True


def cached_engine(config: ModelConfig, family: str) -> CachedEngine:
    """The cache of `config`'s model setting, opened without loading the model's weights."""
    from sumprobe.engine.loading import config_fields

    source = resolve_model(config.model)
    if config.device == "cpu":
        # Known without torch: a rerun read whole from the cache need not import it (~1 s).
        device, dtype = "cpu", "float32" if config.dtype == "auto" else config.dtype
    else:
        from sumprobe.engine.device import pick_device, pick_dtype

        torch_device = pick_device(config.device)
        device = torch_device.type
        dtype = str(pick_dtype(config.dtype, torch_device)).removeprefix("torch.")
    # What build_engine reads from the loaded model's config, read here without the weights.
    revision = getattr(config_fields(source), "_commit_hash", None)
    cache = _open_cache(config.cache_path, source, revision, family, dtype, device)
    return CachedEngine(source.name, family, revision=revision, device=device, dtype=dtype,
                        cache=cache)
