"""What measures may ask of an engine, as Protocols: the engine boundary.

A measure calls these and nothing else (never the tokenizer or the network inside an engine),
so an engine family is one module that provides some of them, and a fake with the same methods
stands in for tests. `require` turns a missing capability into advice that names the model kind
the measure needs, so a user is never sent in a circle between --model-type values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from sumprobe.errors import ModelError

# What a measure needs from the model: the capability it calls (or none, or its own model).
NEEDS_NOTHING = "nothing"  # no model (ROUGE, length)
NEEDS_CLOZE = "cloze"  # answer a masked word (masked or causal LMs)
NEEDS_FILL = "fill"  # fill the masks of a masked LM
NEEDS_LOGPROBS = "logprobs"  # log-probability sums of a causal LM
NEEDS_OWN = "own"  # the measure loads its own model (e.g. a trained reward model)
NEEDS = (NEEDS_NOTHING, NEEDS_CLOZE, NEEDS_FILL, NEEDS_LOGPROBS, NEEDS_OWN)

Progress = Callable[[int], None]


@runtime_checkable
class Text(Protocol):
    """Tokenization with the model's own tokenizer (a fast one: offsets are needed)."""

    prefix: Sequence[int]  # special tokens the model puts before a text ([CLS], <s>)
    suffix: Sequence[int]  # and after it ([SEP], </s>)

    def encode(self, text: str):
        """`Encoded`: ids and character offsets, no special tokens."""

    def encode_prompt(self, prompt: str) -> tuple[int, ...]:
        """A prompt and its separator, as the seed joins them: prompt + "\\n"."""

    def ids(self, text: str) -> tuple[int, ...]:
        """Token ids of a text, no special tokens."""

    def pieces(self, text: str) -> tuple[tuple[int, ...], tuple, tuple]:
        """(ids, character spans, word index of each token or None)."""


@runtime_checkable
class AnswersClozes(Protocol):
    """Fill one masked word of a document under several prompts (masked and causal LMs)."""

    name: str

    def piece_counts(self, document: str, words: Sequence) -> list[int]: ...

    def predict(self, clozes: Sequence, top_k: int, on_progress: Progress | None = None
                ) -> list[list]: ...


@runtime_checkable
class FillsMasks(Protocol):
    """The best token at each mask of complete model inputs (masked LMs)."""

    name: str
    text: Text
    window: int  # longest input less the special tokens
    mask_id: int

    def fill(self, inputs: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
             on_progress: Progress | None = None) -> list[tuple[int, ...]]: ...


@runtime_checkable
class ScoresLogProbs(Protocol):
    """Sums of log p(token | tokens before it) over spans of each input (causal LMs)."""

    name: str
    text: Text
    window: int

    def logprob_spans(self, inputs: Sequence[tuple[tuple[int, ...], tuple[tuple[int, int], ...]]],
                      on_progress: Progress | None = None) -> list[tuple[float, ...]]: ...

    def logprob_sums(self, inputs: Sequence[tuple[tuple[int, ...], int]],
                     on_progress: Progress | None = None) -> list[float]: ...

    def start_ids(self) -> tuple[int, ...]: ...


_WANTED = {
    NEEDS_CLOZE: (AnswersClozes, "a masked or causal LM"),
    NEEDS_FILL: (FillsMasks, "a masked LM (one that fills [MASK] tokens, e.g. bert-base-uncased)"),
    NEEDS_LOGPROBS: (ScoresLogProbs, "a causal LM (one that reads left to right, e.g. gpt2)"),
}
# The model families (--model-type) that provide each capability.
MODEL_TYPES_FOR = {NEEDS_CLOZE: ("masked", "causal"), NEEDS_FILL: ("masked",),
                   NEEDS_LOGPROBS: ("causal",)}


def require(engine, needs: str, measure: str) -> None:
    """Raise a ModelError when `engine` lacks what a measure `needs`."""
    if needs not in _WANTED:
        return
    protocol, kind = _WANTED[needs]
    if not isinstance(engine, protocol):
        name = engine.name if engine is not None else "this model"
        raise ModelError(f"{measure} needs {kind}, and {name} is not one: pass such a model "
                         "with --model")
