"""Masked language models (BERT, RoBERTa, …): fill one mask token in `summary + "\\n" + document`.

The word's tokens are replaced by a single mask token at the token level, so the rest of the
document is tokenized exactly as without the mask. Only the encoder runs over the whole input;
the prediction head runs at the mask positions alone, which is where the vocabulary-sized
matrix product would otherwise cost as much as the encoder.

A hit means the best (or a top-k) filler is the word itself, so a word of several pieces can
never be hit with one mask (use the one-piece rule); its logprob is that of its first piece.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from sumprobe.engine.base import (
    Cloze,
    ClozeEngine,
    Prediction,
    TokenizerHelper,
    fit_prompt,
    logits_at,
    max_input_length,
    pad_right,
    run_unique,
)
from sumprobe.errors import ModelError


@dataclass(frozen=True)
class _Row:
    ids: tuple[int, ...]
    mask_at: int
    target: tuple[int, ...]
    truncated: bool
    key: tuple[int, int]  # (cloze, prompt) it answers


def _head_at_masks(model):
    """The MLM head as a module over hidden states, or None where the family has no single one."""
    for attribute in ("cls", "lm_head"):
        head = getattr(model, attribute, None)
        if isinstance(head, torch.nn.Module):
            return head
    return None


def require_mask_token(tokenizer, name: str) -> None:
    if tokenizer.mask_token_id is None:
        raise ModelError(
            f"{name}: the tokenizer has no mask token, so this is not a masked LM; "
            "use --model-type causal for left-to-right models"
        )


class MaskedEngine(ClozeEngine):
    """Any `AutoModelForMaskedLM` with a fast tokenizer that has a mask token."""

    def __init__(self, model, tokenizer, name: str, batch_size: int, *, cache=None):
        require_mask_token(tokenizer, name)
        parameter = next(model.parameters())
        super().__init__(name, "masked", revision=getattr(model.config, "_commit_hash", None),
                         device=parameter.device, batch_size=batch_size, cache=cache,
                         dtype=str(parameter.dtype).removeprefix("torch."))
        self.model = model.eval()
        self.text = TokenizerHelper(tokenizer, name)
        self.mask_id = tokenizer.mask_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.window = max_input_length(tokenizer, model.config) - len(self.text.prefix) - len(
            self.text.suffix
        )
        self.head = _head_at_masks(model)

    def _rows(self, index: int, cloze: Cloze) -> list[_Row]:
        encoded = self.text.encode(cloze.document)
        pieces = encoded.covering(cloze.word)
        if not pieces:
            raise ModelError(f"{self.name}: the word {cloze.word.text!r} has no tokens")
        target = tuple(encoded.ids[i] for i in pieces)
        doc = list(encoded.ids[: pieces[0]]) + [self.mask_id] + list(encoded.ids[pieces[-1] + 1 :])
        mask_in_doc = pieces[0]
        prompts = [self.text.encode_prompt(p) if p is not None else () for p in cloze.prompts]
        # Every condition sees the same window of the document: room for the longest prompt,
        # but never less than half the window for the document itself.
        longest = max(len(p) for p in prompts)
        doc_room = max(self.window - longest, self.window // 2)
        doc_cut = len(doc) > doc_room
        if doc_cut:
            start = min(max(0, mask_in_doc - doc_room // 2), len(doc) - doc_room)
            doc, mask_in_doc = doc[start : start + doc_room], mask_in_doc - start
        rows = []
        for p, prompt in enumerate(prompts):
            prompt, prompt_cut = fit_prompt(prompt, self.window - len(doc))
            ids = tuple(self.text.prefix) + prompt + tuple(doc) + tuple(self.text.suffix)
            mask_at = len(self.text.prefix) + len(prompt) + mask_in_doc
            rows.append(_Row(ids, mask_at, target, doc_cut or prompt_cut, (index, p)))
        return rows

    @staticmethod
    def _unit(row: _Row, top_k: int) -> tuple:
        # What decides the answer: the input, where the mask is, the word's first piece, k.
        return row.ids, row.mask_at, row.target[0], top_k

    @torch.inference_mode()
    def _answer(self, units: Sequence[tuple]) -> list[list]:
        """[top-k token ids, log p(first piece)] for each (ids, mask_at, first, k) unit."""
        ids, attention = pad_right([unit[0] for unit in units], self.pad_id, self.device)
        batch = torch.arange(len(units), device=self.device)
        mask_at = torch.tensor([unit[1] for unit in units], device=self.device)  # [B]
        logits = logits_at(self.model, self.head, ids, attention, batch, mask_at)  # [B, V]
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # [B, V]
        top = logprobs.topk(units[0][3], dim=-1).indices.tolist()  # [B][k]
        first = torch.tensor([unit[2] for unit in units], device=self.device)  # [B]
        word_logprob = logprobs[batch, first].tolist()  # [B]
        return [[best, logprob] for best, logprob in zip(top, word_logprob)]

    def _prediction(self, row: _Row, answer: list) -> Prediction:
        best, logprob = answer
        whole_word = len(row.target) == 1
        return Prediction(top_tokens=tuple(self.text.decode(t) for t in best),
                          top1_hit=whole_word and best[0] == row.target[0],
                          topk_hit=whole_word and row.target[0] in best,
                          logprob=float(logprob), truncated=row.truncated)

    @torch.inference_mode()
    def _top1(self, inputs: Sequence[tuple[tuple[int, ...], tuple[int, ...]]]) -> list:
        ids, attention = pad_right([sequence for sequence, _ in inputs], self.pad_id, self.device)
        owner = [b for b, (_, positions) in enumerate(inputs) for _ in positions]
        at = [p for _, positions in inputs for p in positions]
        logits = logits_at(self.model, self.head, ids, attention,
                           torch.tensor(owner, device=self.device),
                           torch.tensor(at, device=self.device))  # [N, V]
        best = iter(logits.argmax(dim=-1).tolist())
        return [[next(best) for _ in positions] for _, positions in inputs]

    def fill(
        self,
        inputs: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
        on_progress: Callable[[int], None] | None = None,
    ) -> list[tuple[int, ...]]:
        """The best token at each masked position of each (ids, positions) input.

        The ids are complete model inputs (special tokens included) of at most the window's
        length. Identical inputs run once (progress counts distinct inputs).
        """
        return [tuple(best) for best in run_unique(self, "fill", inputs, self._top1, on_progress)]
