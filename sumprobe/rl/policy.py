"""The policy (a causal LM with a value head), the frozen reference, and their tokenizer.

The value head is a linear layer on the policy's last hidden state, as in Ziegler et al. 2019 and
trl 0.x: it shares the body, so the value loss also shapes the body (weighted by vf_coef). Only the
positions that predict response tokens go through the output layer and the value head.
"""

from __future__ import annotations

import functools
import inspect
from pathlib import Path

import torch
from torch import nn

from sumprobe.core.reward import TASKS, control_prefix
from sumprobe.errors import ModelError

VALUE_HEAD_FILE = "value_head.safetensors"


@functools.cache
def _keeps_logits(model_class: type) -> bool:
    return "logits_to_keep" in inspect.signature(model_class.forward).parameters


def response_logits(lm, input_ids: torch.Tensor, attention_mask: torch.Tensor, n_response: int,
                    with_hidden: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Logits (and last hidden states) at the positions that predict the last `n_response` tokens.

    Rows are left-padded, so every response occupies the last `n_response` positions; position
    ids count real tokens only, as `generate` does, so the logits match the sampling ones.
    """
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # [B, L]
    extra = {"logits_to_keep": n_response + 1} if _keeps_logits(type(lm)) else {}
    out = lm(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
             output_hidden_states=with_hidden, use_cache=False, **extra)
    logits = out.logits[:, -n_response - 1:-1]  # [B, T, V]
    hidden = out.hidden_states[-1][:, -n_response - 1:-1] if with_hidden else None  # [B, T, H]
    return logits, hidden


def _hidden_size(lm) -> int:
    head = lm.get_output_embeddings()
    if isinstance(head, nn.Linear):
        return head.in_features
    return lm.config.get_text_config().hidden_size


class PolicyWithValueHead(nn.Module):
    """A causal LM plus a scalar value per position; forward returns both for the response."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm
        self.v_head = nn.Linear(_hidden_size(lm), 1)
        # Values start at 0: the first advantages are then the whitened rewards, not the noise
        # of a random head.
        nn.init.zeros_(self.v_head.weight)
        nn.init.zeros_(self.v_head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                n_response: int) -> tuple[torch.Tensor, torch.Tensor]:
        logits, hidden = response_logits(self.lm, input_ids, attention_mask, n_response, True)
        values = self.v_head(hidden.to(self.v_head.weight.dtype)).squeeze(-1)  # [B, T]
        return logits, values

    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_file

        self.lm.save_pretrained(folder)
        state = {k: v.detach().cpu().contiguous() for k, v in self.v_head.state_dict().items()}
        save_file(state, str(Path(folder) / VALUE_HEAD_FILE))

    def load_value_head(self, folder: str | Path) -> None:
        from safetensors.torch import load_file

        path = Path(folder) / VALUE_HEAD_FILE
        if not path.exists():
            raise ModelError(f"{folder}: no {VALUE_HEAD_FILE}; is this a ctrl-train checkpoint?")
        self.v_head.load_state_dict(load_file(str(path)))


def fuse_gelu(model: nn.Module) -> int:
    """Swap GPT-2's `gelu_new` activation (transformers' NewGELUActivation: five elementwise
    ops, each a pass over the MLP's activations, and as many again backwards) for torch's fused
    GELU with the tanh approximation: the same formula, one kernel. Values agree to rounding.
    Returns the number swapped."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child).__name__ == "NewGELUActivation":
                setattr(parent, name, nn.GELU(approximate="tanh"))
                swapped += 1
    return swapped


def sparse_tied_embedding_grad(lm) -> bool:
    """Let the input embedding hand back its gradient as the rows it looked up when its weight
    is tied to the output layer (GPT-2, SmolLM2), and say whether it did.

    Dense, the embedding's gradient is a fresh zero [vocabulary, hidden] tensor (154 MB for
    GPT-2) holding a few hundred rows, then added to the output layer's gradient of the same
    weight. Sparse, autograd adds those rows into the output layer's dense gradient before the
    weight's gradient is stored, so Adam sees the same dense gradient. An untied embedding
    keeps its dense gradient, which Adam needs (it has nothing dense to join)."""
    embedding, output = lm.get_input_embeddings(), lm.get_output_embeddings()
    if not isinstance(embedding, nn.Embedding) or output is None:
        return False
    if output.weight is not embedding.weight:
        return False
    embedding.sparse = True
    return True


def load_causal_lm(name: str, dtype: torch.dtype = torch.float32):
    """A causal LM by Hub id, folder, .gguf file or pypi:PACKAGE, in eval mode (no dropout:
    PPO compares the policy with itself and with the reference, and dropout would add noise to
    every ratio and KL estimate, as trl's disable_dropout says)."""
    from transformers import AutoModelForCausalLM

    from sumprobe.engine.loading import load_weights, resolve_model

    return load_weights(resolve_model(name), AutoModelForCausalLM, dtype, what="causal LM")


def model_config(name: str):
    """A model's configuration (architectures, vocabulary size) without its weights."""
    from sumprobe.engine.loading import load_model_config, resolve_model

    return load_model_config(resolve_model(name))


def vocabulary_difference(mine, theirs) -> str | None:
    """How tokenizer `theirs` disagrees with `mine` on what each token's id is, in words; None
    when every token of `theirs` has the same id in `mine` (which may have tokens added: a pad
    token, the control prefixes). Equal sizes do not make equal vocabularies: two 32,000-token
    SentencePiece models can number different pieces."""
    own, other = mine.get_vocab(), theirs.get_vocab()
    moved = sorted(token for token, index in other.items() if own.get(token) != index)
    if not moved:
        return None
    shown = ", ".join(f"{token!r} is {other[token]} there and "
                      f"{own[token] if token in own else 'absent'} here" for token in moved[:3])
    return f"{len(moved)} of its {len(other)} tokens have another id ({shown})"


def tokenizer_if_any(name: str):
    """The tokenizer saved with a model, or None when it has none (a weights-only folder):
    then only the configs' vocabulary sizes can be compared."""
    from sumprobe.errors import ModelError

    try:
        return load_tokenizer(name)
    except (ModelError, OSError, ValueError):
        return None


def load_tokenizer(name: str):
    """The tokenizer of a model, with a pad token, padding on the left (queries are)."""
    from sumprobe.engine.loading import load_tokenizer as load
    from sumprobe.engine.loading import resolve_model

    tokenizer = load(resolve_model(name), pad=True)
    # Not saved with the tokenizer: set it each time.
    tokenizer.padding_side = "left"
    return tokenizer


def add_prefix_tokens(tokenizer) -> None:
    """Make each control prefix one added token (`--prefix-tokens special`)."""
    tokenizer.add_tokens([control_prefix(task) for task in TASKS], special_tokens=True)


def fit_embeddings(lm, tokenizer) -> None:
    """Grow the embeddings when the tokenizer gained tokens (pad, control prefixes)."""
    if len(tokenizer) > lm.get_input_embeddings().num_embeddings:
        lm.resize_token_embeddings(len(tokenizer))
