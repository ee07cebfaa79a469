"""Causal (left-to-right) language models: the same cloze question asked from the left.

The model reads `summary + "\\n" + document` up to the masked word and predicts it. Top-1 and
top-k compare the model's next token with the word's first token; `logprob` is the whole
word's log-probability (all its tokens, teacher-forced), which is what a left-to-right model
can say about a word of several pieces. Only the positions that predict the word go through
the output layer.
"""

from __future__ import annotations

import functools
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

# Families whose logits are not the output layer applied to the last hidden state.
_SCALED_LOGITS = ("final_logit_softcapping", "logit_scale", "output_multiplier_scale")


@dataclass(frozen=True)
class _Row:
    ids: tuple[int, ...]  # context followed by the word's tokens
    word_at: int  # index of the word's first token in ids
    truncated: bool
    key: tuple[int, int]


class CausalEngine(ClozeEngine):
    """Any `AutoModelForCausalLM` (GGUF files included) with a fast tokenizer."""

    def __init__(self, model, tokenizer, name: str, batch_size: int, *, cache=None):
        parameter = next(model.parameters())
        super().__init__(name, "causal", revision=getattr(model.config, "_commit_hash", None),
                         device=parameter.device, batch_size=batch_size, cache=cache,
                         dtype=str(parameter.dtype).removeprefix("torch."))
        self.model = model.eval()
        self.text = TokenizerHelper(tokenizer, name)
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else (tokenizer.eos_token_id or 0)
        self.window = max_input_length(tokenizer, model.config) - len(self.text.prefix)
        self.head = model.get_output_embeddings()
        if any(getattr(model.config, key, None) for key in _SCALED_LOGITS) or self.head is None:
            self.head = None  # fall back to the full forward pass

    def _rows(self, index: int, cloze: Cloze) -> list[_Row]:
        encoded = self.text.encode(cloze.document)
        pieces = encoded.covering(cloze.word)
        if not pieces:
            raise ModelError(f"{self.name}: the word {cloze.word.text!r} has no tokens")
        word = encoded.ids[pieces[0] : pieces[-1] + 1]
        before = encoded.ids[: pieces[0]]
        prompts = [self.text.encode_prompt(p) if p is not None else () for p in cloze.prompts]
        # The same context for every condition: the document's last tokens before the word,
        # as many as fit beside the longest prompt (at least half the window).
        room = max(self.window - len(word) - max(len(p) for p in prompts), self.window // 2)
        context_cut = len(before) > room
        if context_cut:
            before = before[len(before) - room :]
        rows = []
        for p, prompt in enumerate(prompts):
            prompt, prompt_cut = fit_prompt(prompt, self.window - len(before) - len(word))
            ids = tuple(self.text.prefix) + prompt + before + word
            rows.append(_Row(ids, len(ids) - len(word), context_cut or prompt_cut, (index, p)))
        if rows[0].word_at == 0:
            raise ModelError(
                f"{self.name}: nothing precedes the word {cloze.word.text!r} and the tokenizer "
                "adds no start token, so the model cannot predict it"
            )
        return rows

    @staticmethod
    def _unit(row: _Row, top_k: int) -> tuple:
        return row.ids, row.word_at, top_k

    @torch.inference_mode()
    def _answer(self, units: Sequence[tuple]) -> list[list]:
        """[top-k ids for the word's first token, log p(whole word)] per (ids, word_at, k)."""
        ids, attention = pad_right([unit[0] for unit in units], self.pad_id, self.device)
        # Position t predicts token t + 1: the word's tokens are predicted from word_at - 1 on.
        owners, positions, targets, first = [], [], [], []
        for b, (sequence, word_at, _) in enumerate(units):
            first.append(len(owners))  # where this unit's first word token is scored
            for t in range(word_at, len(sequence)):
                owners.append(b)
                positions.append(t - 1)
                targets.append(sequence[t])
        owner = torch.tensor(owners, device=self.device)  # [N]
        logits = logits_at(self.model, self.head, ids, attention, owner,
                           torch.tensor(positions, device=self.device))  # [N, V]
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # [N, V]
        target_logprob = logprobs.gather(1, torch.tensor(targets, device=self.device)[:, None])
        word_logprob = torch.zeros(len(units), device=self.device).index_add_(
            0, owner, target_logprob[:, 0]
        ).tolist()  # [B]
        top = logprobs[first].topk(units[0][2], dim=-1).indices.tolist()  # [B][k]
        return [[best, logprob] for best, logprob in zip(top, word_logprob)]

    def _prediction(self, row: _Row, answer: list) -> Prediction:
        best, logprob = answer
        word = row.ids[row.word_at]
        return Prediction(top_tokens=tuple(self.text.decode(t) for t in best),
                          top1_hit=best[0] == word, topk_hit=word in best,
                          logprob=float(logprob), truncated=row.truncated)

    @torch.inference_mode()
    def _span_sums(self, inputs: Sequence[tuple[tuple[int, ...], tuple]]) -> list[list[float]]:
        ids, attention = pad_right([sequence for sequence, _ in inputs], self.pad_id, self.device)
        owner, at, targets, which = [], [], [], []  # one entry per scored token
        starts = []  # index of each input's first span among all spans
        n_spans = 0
        for b, (sequence, spans) in enumerate(inputs):
            starts.append(n_spans)
            for s, (begin, end) in enumerate(spans):
                for t in range(begin, end):
                    owner.append(b)
                    at.append(t - 1)  # position t - 1 predicts token t
                    targets.append(sequence[t])
                    which.append(n_spans + s)
            n_spans += len(spans)
        logits = logits_at(self.model, self.head, ids, attention,
                           torch.tensor(owner, device=self.device),
                           torch.tensor(at, device=self.device))  # [N, V]
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # [N, V]
        picked = logprobs.gather(1, torch.tensor(targets, device=self.device)[:, None])[:, 0]
        sums = torch.zeros(n_spans, device=self.device).index_add_(
            0, torch.tensor(which, device=self.device), picked).tolist()  # [S]
        return [sums[starts[b] : starts[b] + len(spans)] for b, (_, spans) in enumerate(inputs)]

    def logprob_spans(
        self,
        inputs: Sequence[tuple[tuple[int, ...], tuple[tuple[int, int], ...]]],
        on_progress: Callable[[int], None] | None = None,
    ) -> list[tuple[float, ...]]:
        """For each (ids, spans) input, one forward pass and, per (begin, end) span, the sum of
        log p(ids[t] | ids[:t]) for begin <= t < end. Identical inputs run once.

        Spans must lie within 1 <= begin < end <= len(ids): the first token has no prediction.
        """
        for sequence, spans in inputs:
            if not spans or any(not 1 <= b < e <= len(sequence) for b, e in spans):
                raise ValueError("each span needs 1 <= begin < end <= len(ids)")
        return [tuple(sums) for sums in
                run_unique(self, "logprob", inputs, self._span_sums, on_progress)]

    def logprob_sums(
        self,
        inputs: Sequence[tuple[tuple[int, ...], int]],
        on_progress: Callable[[int], None] | None = None,
    ) -> list[float]:
        """Sum of log p(ids[t] | ids[:t]) for t >= start, for each (ids, start) input.

        start must be at least 1 (the first token has no prediction). Identical inputs run once.
        """
        if any(start < 1 or start >= len(sequence) for sequence, start in inputs):
            raise ValueError("each input needs 1 <= start < len(ids)")
        spans = [(sequence, ((start, len(sequence)),)) for sequence, start in inputs]
        return [sums[0] for sums in self.logprob_spans(spans, on_progress)]

    def start_ids(self) -> tuple[int, ...]:
        """What begins every input: the tokenizer's own start tokens, else its end-of-text token
        (as GPT-2 style models are trained to read a new text after it)."""
        if self.text.prefix:
            return tuple(self.text.prefix)
        tokenizer = self.text.tokenizer
        start = tokenizer.bos_token_id
        start = tokenizer.eos_token_id if start is None else start
        return (start,) if start is not None else ()

    @functools.cached_property
    def stops(self):
        """What ends a generated summary (`sumprobe.engine.generate.Stops`)."""
        from sumprobe.engine.generate import stop_tokens

        return stop_tokens(self.text.tokenizer)

    def generate(self, prompts: Sequence[tuple[int, ...]], sampling,
                 on_progress: Callable[[int], None] | None = None) -> list[list[int]]:
        """The tokens the model writes after each prompt (`sampling`: a
        `sumprobe.engine.config.Sampling`), up to the newline or end of text that stopped it.
        Each distinct prompt runs once, longest first in batches; every answer is cached."""
        from sumprobe.engine.generate import CACHE_KIND, generate

        settings = sampling.key
        max_new, temperature, top_p, seed = settings

        def run(units):
            written = generate(self.model, [unit[0] for unit in units], pad_id=self.pad_id,
                               stops=self.stops, max_new_tokens=max_new,
                               temperature=temperature, top_p=top_p, seed=seed)
            self.work["tokens_written"] += sum(len(tokens) for tokens in written)
            return written

        units = [(tuple(prompt), settings) for prompt in prompts]
        return run_unique(self, CACHE_KIND, units, run, on_progress)
