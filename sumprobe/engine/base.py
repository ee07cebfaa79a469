"""What every engine shares: the cloze question, its answer, and the tokenizer bookkeeping.

An engine answers cloze questions in batches: for one document and one masked word, how well
does the model recover the word given each prompt (a summary, or nothing)? The document is
tokenized once, with character offsets, so the word's pieces are found exactly and every
condition of a document sees the same tokens of it (a paired design).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from sumprobe.core.masking import Word
from sumprobe.engine.units import run_units
from sumprobe.errors import ModelError


@dataclass(frozen=True)
class Cloze:
    """One masked word of one document, to be filled once per prompt (None: document alone)."""

    document: str
    word: Word
    prompts: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class Prediction:
    """The model's answer for one (cloze, prompt)."""

    top_tokens: tuple[str, ...]  # the k most likely fillers, best first, decoded
    top1_hit: bool  # the best filler is the word
    topk_hit: bool  # the word is among the k best
    logprob: float  # log-probability of the word (see the engine for multi-piece words)
    truncated: bool  # the input was cut to fit the model's window


@dataclass(frozen=True)
class Encoded:
    """A text's token ids with each token's character span."""

    ids: tuple[int, ...]
    offsets: tuple[tuple[int, int], ...]

    @cached_property
    def _ends(self) -> list[int]:
        # Token ends never decrease along a text (no special tokens here), so a binary search
        # finds a word's first token: choosing masks is linear in the document, not quadratic.
        return [end for _, end in self.offsets]

    def covering(self, word: Word) -> list[int]:
        """Indices of the tokens that overlap the word's characters."""
        found = []
        for i in range(bisect_right(self._ends, word.start), len(self.offsets)):
            start, end = self.offsets[i]
            if start >= word.end:
                break
            if end > start:  # empty spans (some tokenizers' markers) cover nothing
                found.append(i)
        return found


def special_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The special tokens a tokenizer puts before and after a text ([CLS] … [SEP], <s> … </s>,
    a BOS alone), found by encoding a probe text both ways."""
    plain = tokenizer("hello", add_special_tokens=False)["input_ids"]
    framed = tokenizer("hello", add_special_tokens=True)["input_ids"]
    for start in range(len(framed) - len(plain) + 1):
        if framed[start : start + len(plain)] == plain:
            return framed[:start], framed[start + len(plain) :]
    return [], []


class TokenizerHelper:
    """Offsets, special tokens and prompt encoding for a fast (Rust) tokenizer."""

    def __init__(self, tokenizer, model_name: str):
        if not getattr(tokenizer, "is_fast", False):
            raise ModelError(
                f"{model_name}: sumprobe needs a fast tokenizer (character offsets); "
                "this one is a slow Python tokenizer"
            )
        self.tokenizer = tokenizer
        self.prefix, self.suffix = special_frame(tokenizer)
        # Records of one document are neighbours (sorted by length), so a small cache serves them
        # all while memory stays flat on large data sets.
        self.encode = lru_cache(maxsize=1024)(self._encode)
        self.encode_prompt = lru_cache(maxsize=8192)(self._encode_prompt)

    def _encode(self, text: str) -> Encoded:
        encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return Encoded(
            tuple(encoding["input_ids"]), tuple(tuple(span) for span in encoding["offset_mapping"])
        )

    def ids(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def pieces(self, text: str) -> tuple[tuple[int, ...], tuple, tuple]:
        """Ids, character spans and the word index of each token (None for specials)."""
        encoding = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return (tuple(encoding["input_ids"]), tuple(map(tuple, encoding["offset_mapping"])),
                tuple(encoding.word_ids()))

    def _encode_prompt(self, prompt: str) -> tuple[int, ...]:
        # The prompt and its separator, as the seed joins them: summary + "\n" + document.
        return tuple(self.tokenizer(prompt + "\n", add_special_tokens=False)["input_ids"])

    def piece_counts(self, document: str, words: Sequence[Word]) -> list[int]:
        encoded = self.encode(document)
        return [len(encoded.covering(word)) for word in words]

    def decode(self, token_id: int) -> str:
        text = self.tokenizer.decode([token_id]).strip()
        if "\ufffd" in text:  # a byte-level piece of a character: show the token itself
            return str(self.tokenizer.convert_ids_to_tokens(token_id))
        return text


class Engine:
    """What every engine carries besides its capabilities (`sumprobe.engine.capabilities`):
    the model's name and family, where and how it runs, the scoring cache it reads first, and
    the counts of its work. Set once, by the factory (`sumprobe.engine.build_engine`)."""

    cache_only = False  # answers from cached blocks alone (`CachedEngine`): no model to call
    shard = True  # split the work between the processes of a torchrun launch

    def __init__(self, name: str, family: str, *, revision: str | None = None, device=None,
                 dtype: str | None = None, batch_size: int | None = None, cache=None):
        self.name, self.family, self.revision = name, family, revision
        self.device, self.dtype, self.batch_size = device, dtype, batch_size
        self.cache = cache  # a ScoreCache bound to this model setting, or None
        self.work: Counter = Counter()  # units run and read from the cache, tokens forwarded


class ClozeEngine(Engine):
    """What both engine families share: piece counts, the work counters, and predict.

    A subclass sets `text`, and defines `_rows(index, cloze)` (inputs, each with `ids` and
    `key` = (cloze, prompt)), `_unit(row, top_k)` (the row as a hashable scoring unit, its ids
    first), `_answer(units)` (plain-data answers) and `_prediction(row, answer)`.
    """

    text: TokenizerHelper

    def piece_counts(self, document: str, words: Sequence[Word]) -> list[int]:
        return self.text.piece_counts(document, words)

    def predict(
        self,
        clozes: Sequence[Cloze],
        top_k: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[list[Prediction]]:
        rows = [row for i, cloze in enumerate(clozes) for row in self._rows(i, cloze)]
        units = [self._unit(row, top_k) for row in rows]
        answers = run_units(self, "predict", units, self._answer, _ids_length, on_progress)
        predictions = [self._prediction(row, answer) for row, answer in zip(rows, answers)]
        return restore_order(clozes, [row.key for row in rows], predictions)


def _ids_length(unit) -> int:
    return len(unit[0])


def fit_prompt(prompt: tuple[int, ...], budget: int) -> tuple[tuple[int, ...], bool]:
    """Keep the first `budget` tokens of a prompt; say whether it was cut."""
    return (prompt[:budget], True) if len(prompt) > budget else (prompt, False)


def max_input_length(tokenizer, config) -> int:
    """The longest input the model takes: the smaller of the tokenizer's limit and the model's
    positions where both are known (a tokenizer saved with a larger limit than the model's
    positions would otherwise let an input index past them); 512 when neither says."""
    limits = []
    from_tokenizer = getattr(tokenizer, "model_max_length", None) or 0
    if 0 < from_tokenizer < 1_000_000:  # "no limit" is saved as a huge number
        limits.append(int(from_tokenizer))
    for key in ("max_position_embeddings", "n_positions", "max_sequence_length"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            limits.append(value)
            break
    return min(limits) if limits else 512


def pad_right(sequences: Sequence[Sequence[int]], pad_id: int, device):
    """Right-padded ids and attention mask for a batch, on `device`."""
    import torch

    width = max(len(seq) for seq in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)  # [B, T]
    attention = torch.zeros_like(ids)  # [B, T]
    for b, seq in enumerate(sequences):
        ids[b, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        attention[b, : len(seq)] = 1
    return ids.to(device), attention.to(device)


def restore_order(clozes: Sequence[Cloze], keys, predictions) -> list[list[Prediction]]:
    """Put predictions made in length order back as one list per cloze, one per prompt."""
    answers: list[list] = [[None] * len(cloze.prompts) for cloze in clozes]
    for (cloze, prompt), prediction in zip(keys, predictions):
        answers[cloze][prompt] = prediction
    return answers


def logits_at(model, head, ids, attention, owner, positions):
    """Logits at chosen positions only: the output layer runs on those hidden states alone.

    owner [N] and positions [N] name the batch row and position of each wanted logit vector;
    with no separable head (head None) the whole model runs and the rows are picked after.
    """
    if head is not None:
        hidden = model.base_model(input_ids=ids, attention_mask=attention)[0]  # [B, T, H]
        return head(hidden[owner, positions])  # [N, V]
    return model(input_ids=ids, attention_mask=attention).logits[owner, positions]  # [N, V]


def run_unique(engine, kind: str, inputs: Sequence, run, on_progress=None,
               length=_ids_length) -> list:
    """Answer each (ids, …) input, each distinct one once, longest first (see `units`)."""
    return run_units(engine, kind, inputs, run, length, on_progress)
