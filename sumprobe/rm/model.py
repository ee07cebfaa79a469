"""A reward model: a sequence classifier with one output, its tokenizer, its input form and the
bias that normalises it (Stiennon et al.: the reference summaries score 0 on average).

`load_base` puts a fresh scalar head on a pretrained model for training, refusing before any
weights load a model whose family has no sequence-classification head. `load_reward_model`
reads back a trained one (a folder `rm-train` wrote); `RewardModel.score` scores
(document, context, summary) triples in length-sorted batches.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sumprobe.errors import ModelError
from sumprobe.rm.inputs import InputBuilder

META_FILE = "sumprobe_rm.json"


def load_base(name: str, dtype=None):
    """(model with a fresh one-output head, tokenizer that pads) for training."""
    from transformers import AutoModelForSequenceClassification
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    from sumprobe.engine.loading import (
        load_model_config,
        load_tokenizer,
        load_weights,
        resolve_model,
    )

    source = resolve_model(name)
    config = load_model_config(source)
    if config.model_type not in MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES:
        raise ModelError(f"{name}: a {config.model_type!r} model cannot take a scalar head "
                         "(transformers has no sequence-classification class for it); pass an "
                         "encoder (BERT, MiniLM, DeBERTa) or a causal LM (GPT-2, Llama, …)")
    tokenizer = load_tokenizer(source, pad=True)
    model = load_weights(source, AutoModelForSequenceClassification, dtype, what="reward model",
                         num_labels=1)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer))  # a pad token was added
    # The head reads the last real token of each input: the model must know which are padding.
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


@dataclass
class RewardModel:
    model: object
    tokenizer: object
    builder: InputBuilder
    bias: float  # subtracted from every raw score
    path: str
    meta: dict

    def score(self, triples: Sequence[tuple[str, dict, str]], batch_size: int = 16,
              on_progress: Callable[[int], None] | None = None) -> tuple[list[float], int]:
        """Normalised reward of each (document, context, summary); NaN where the summary leaves
        no room for the post. Also the number of inputs whose post was cut."""
        built = [self.builder.build(*triple) for triple in triples]
        inputs = [b.ids for b in built if b.ids is not None]
        raw = dict(zip(inputs, score_ids(self.model, inputs, self.tokenizer.pad_token_id,
                                         batch_size, on_progress)))
        rewards = [raw[b.ids] - self.bias if b.ids is not None else math.nan for b in built]
        return rewards, sum(b.cut for b in built)


def score_ids(model, inputs: Sequence[tuple[int, ...]], pad_id: int, batch_size: int,
              on_progress=None) -> list[float]:
    """Raw scalar outputs for token-id inputs, each distinct input once, longest first."""
    import torch

    from sumprobe.engine.base import Engine, pad_right, run_unique

    device = next(model.parameters()).device
    # No scoring cache: a reward model changes while it trains, and its evaluation is cheap.
    # Not sharded: rm-train evaluates on rank 0 alone.
    runner = Engine("reward model", "reward", device=device, batch_size=batch_size)
    runner.shard = False

    @torch.inference_mode()
    def run(batch):
        ids, mask = pad_right(batch, pad_id, device)  # [B, T] each
        return model(input_ids=ids, attention_mask=mask).logits[:, 0].float().tolist()  # [B]

    return run_unique(runner, "reward", list(inputs), run, on_progress, length=len)


def save_meta(folder: str | Path, meta: dict) -> None:
    from sumprobe.files import write_json

    write_json(Path(folder) / META_FILE, meta)


def model_folder(path: str) -> Path:
    """The trained model in what `rm-train` wrote: its run folder or the final/ model in it."""
    folder = Path(path)
    if (folder / "final" / META_FILE).exists():
        folder = folder / "final"
    if not (folder / META_FILE).exists():
        raise ModelError(f"{path}: no {META_FILE}; pass the folder rm-train wrote (its run "
                         "folder or its final/ model)")
    return folder


def model_label(path: str) -> str:
    """A reward model's name in logs and signatures: its run folder's (`rm-b` for rm-b and for
    rm-b/final), not the `final` every one of them shares."""
    folder = model_folder(path).resolve()
    return folder.parent.name if folder.name == "final" else folder.name


def load_reward_model(path: str, device: str = "auto", dtype: str = "auto") -> RewardModel:
    """A trained reward model from a folder `rm-train` wrote."""
    from transformers import AutoModelForSequenceClassification

    from sumprobe.engine.device import pick_device, pick_dtype
    from sumprobe.engine.loading import load_tokenizer, load_weights, resolve_model

    folder = model_folder(path)
    meta = read_meta(folder)
    torch_device = pick_device(device)
    source = resolve_model(str(folder))
    model = load_weights(source, AutoModelForSequenceClassification,
                         pick_dtype(dtype, torch_device), what="reward model")
    tokenizer = load_tokenizer(source, pad=True)
    model.to(torch_device)
    builder = InputBuilder(tokenizer, meta["max_length"])
    return RewardModel(model, tokenizer, builder, meta["bias"], str(folder), meta)


def read_meta(folder: Path) -> dict:
    """sumprobe_rm.json, its numbers checked: a damaged or edited file is named with its field
    (`"bias": "x"` was a ValueError traceback)."""
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: damaged ({error})") from None
    if not isinstance(meta, dict):
        raise ModelError(f"{path}: damaged (a {type(meta).__name__}, not a mapping)")
    meta.setdefault("bias", 0.0)
    meta.setdefault("max_length", 512)
    bias, length = meta["bias"], meta["max_length"]
    if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not math.isfinite(bias):
        raise ModelError(f"{path}: field 'bias' should be a finite number, got {bias!r:.60}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 16:
        raise ModelError(f"{path}: field 'max_length' should be a whole number of tokens "
                         f"(16 or more), got {length!r:.60}")
    meta["bias"] = float(bias)
    return meta
