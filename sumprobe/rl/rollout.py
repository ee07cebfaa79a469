"""Rollouts: sample a fixed number of response tokens per query with `generate` and its KV cache.

As in the seed's `respond_to_batch`, sampling uses the model's full distribution (top_k 0,
top_p 1, temperature 1) and always produces `n_new` tokens: an end-of-text token is sampled
like any other and does not stop the row (early stops are a known cause of PPO loss spikes).
Unlike the seed, each step feeds only the new token (the cache holds the rest) and the output
layer runs only at the last position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int,
             device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Stack token lists padded on the left: (input_ids, attention_mask), both [B, L]."""
    if not sequences:
        raise ValueError("left_pad needs at least one sequence")
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)  # [B, L]
    mask = torch.zeros((len(sequences), width), dtype=torch.long)  # [B, L]
    for row, seq in enumerate(sequences):
        if len(seq):
            ids[row, width - len(seq):] = torch.as_tensor(list(seq), dtype=torch.long)
            mask[row, width - len(seq):] = 1
    return ids.to(device), mask.to(device)


def sampling_config(n_new: int, pad_id: int):
    """A GenerationConfig that samples exactly `n_new` tokens from the unmodified distribution.

    Every logits processor is named with its neutral value, because `generate` fills unset
    fields from the model's own generation_config (which may carry a repetition penalty, a
    top_p, ...). `eos_token_id=[]` means no token stops a row.
    """
    from transformers import GenerationConfig

    return GenerationConfig(
        do_sample=True, temperature=1.0, top_k=0, top_p=1.0, typical_p=1.0, min_p=None,
        epsilon_cutoff=0.0, eta_cutoff=0.0, repetition_penalty=1.0, no_repeat_ngram_size=0,
        encoder_repetition_penalty=1.0, bad_words_ids=None, suppress_tokens=None,
        begin_suppress_tokens=None, forced_bos_token_id=None, forced_eos_token_id=None,
        min_new_tokens=0, max_new_tokens=n_new, num_beams=1, renormalize_logits=False,
        eos_token_id=[], pad_token_id=pad_id, use_cache=True,
    )


def _token_counter(on_tokens: Callable[[int], None], done: int, rows: int):
    """A logits processor that changes nothing and reports the tokens sampled so far: the
    one hook `generate` calls at every step, so a progress bar can move inside a rollout."""
    from transformers import LogitsProcessor

    class Counter(LogitsProcessor):
        def __init__(self):
            self.steps = 0

        def __call__(self, input_ids, scores):
            self.steps += 1
            on_tokens(done + rows * (self.steps - 1))
            return scores

    return Counter()


@torch.no_grad()
def generate_responses(lm, queries: Sequence[Sequence[int]], n_new: int, pad_id: int,
                       batch_size: int,
                       on_tokens: Callable[[int], None] | None = None) -> torch.Tensor:
    """`n_new` sampled tokens after each query -> [B, n_new], in the order of `queries`.

    Queries of equal length are batched together (sorted by length), so little padding is fed.
    Randomness comes from torch's global generator (what `generate` uses): seed it to repeat.
    `on_tokens(n)` is told the number of tokens sampled so far, at every step.
    """
    from transformers import LogitsProcessorList

    device = next(lm.parameters()).device
    config = sampling_config(n_new, pad_id)
    order = sorted(range(len(queries)), key=lambda i: len(queries[i]))
    out = torch.empty((len(queries), n_new), dtype=torch.long, device=device)  # [B, T]
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        ids, mask = left_pad([queries[i] for i in chunk], pad_id, device)  # [b, L]
        extra = {}
        if on_tokens is not None:
            counter = _token_counter(on_tokens, start * n_new, len(chunk))
            extra["logits_processor"] = LogitsProcessorList([counter])
        sequences = lm.generate(input_ids=ids, attention_mask=mask, generation_config=config,
                                **extra)
        responses = sequences[:, ids.shape[1]:]  # [b, T]
        if responses.shape[1] != n_new:
            raise RuntimeError(f"generate returned {responses.shape[1]} new tokens, not {n_new}")
        out[torch.tensor(chunk, device=device)] = responses
        if on_tokens is not None:
            on_tokens((start + len(chunk)) * n_new)
    return out


def response_mask(response_ids: torch.Tensor, stops) -> tuple[torch.Tensor, torch.Tensor]:
    """Which response tokens count ([B, T], 1 up to and including the token that ended the
    response) and which rows ended ([B] bool), under `stops` (a
    `sumprobe.engine.generate.Stops`: the end-of-text token, or a newline once the response
    has begun). The tokens sampled after the end are not the response: the losses, the KL and
    the reward's position leave them out (Huang et al. 2024, "The N+ implementation
    details of RLHF with PPO")."""
    rows, width = response_ids.shape
    mask = torch.ones((rows, width), device=response_ids.device)  # [B, T]
    ended = torch.zeros(rows, dtype=torch.bool)  # [B]
    for b, tokens in enumerate(response_ids.tolist()):
        begun = False
        for t, token in enumerate(tokens):
            begun = begun or token not in stops.blank
            if token in stops.end or (begun and token in stops.newline):
                mask[b, t + 1:] = 0
                ended[b] = True
                break
    return mask, ended
