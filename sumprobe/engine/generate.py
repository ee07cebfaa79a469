"""Writing text with a causal LM, batched, through its KV cache: each step feeds only the new
token and runs the output layer at the last position alone. Greedy or sampled (temperature,
nucleus); a row stops at the end-of-text token or at a newline once it has begun, and a batch
stops when every row has. Each prompt draws from a random stream of its own, seeded by the
run's seed and the prompt's tokens, so a summary is the same whatever batch it ran in (and can
be cached).

Rows that have stopped leave the batch and its KV cache once a quarter of the batch has: a
summary may end long before the token limit (the RLHF policy's at about 18 of 48 tokens), and
every later step would otherwise still run the finished rows. A compaction copies the cache
once, about what one step's cache growth costs, so it is not done for every single row.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@functools.cache
def _forward_names(model_class: type) -> tuple[str, bool]:
    """The name a model's forward gives its KV cache (transformers 5: `cache`, 4:
    `past_key_values`), and whether it can run the output layer at the last position alone."""
    parameters = inspect.signature(model_class.forward).parameters
    return ("cache" if "cache" in parameters else "past_key_values",
            "logits_to_keep" in parameters)


# The cache kind of a generation: bump it when what `generate` writes for the same prompt and
# settings changes (its stopping rule, its sampling), so no summary of the old rule is reused.
CACHE_KIND = "generate-1"


@dataclass(frozen=True)
class Stops:
    """What ends a summary: the end-of-text token, or a newline once the summary has begun
    (models often put a newline right after "TL;DR:"; that is not an empty summary)."""

    end: frozenset[int]  # end-of-text tokens
    newline: frozenset[int]  # tokens whose text holds a newline
    blank: frozenset[int]  # tokens whose text is only white space


def stop_tokens(tokenizer) -> Stops:
    """The `Stops` of a tokenizer, from the text of every token."""
    ids = range(len(tokenizer))
    texts = tokenizer.batch_decode([[i] for i in ids])
    eos = tokenizer.eos_token_id
    end = frozenset(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    return Stops(end, frozenset(i for i, text in zip(ids, texts) if "\n" in text),
                 frozenset(i for i, text in zip(ids, texts) if not text.strip()))


def ended(tokens, stops: Stops, max_new_tokens: int) -> bool:
    """Whether a generation ended by itself (end of text, or a newline once begun) rather
    than being cut at `max_new_tokens` (Huang et al.'s N+ case)."""
    return len(tokens) < max_new_tokens or bool(tokens) and \
        (tokens[-1] in stops.end or tokens[-1] in stops.newline)


def _stream(seed: int, prompt: Sequence[int]) -> torch.Generator:
    digest = hashlib.blake2b(json.dumps([seed, list(prompt)]).encode(), digest_size=8)
    return torch.Generator().manual_seed(int.from_bytes(digest.digest(), "big") >> 1)


def _left_pad(prompts: Sequence[Sequence[int]], pad_id: int, device):
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)  # [B, L]
    mask = torch.zeros((len(prompts), width), dtype=torch.long)  # [B, L]
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt):] = torch.tensor(list(prompt), dtype=torch.long)
        mask[row, width - len(prompt):] = 1
    return ids.to(device), mask.to(device)


def _compact(cache, keep: list[int], device) -> bool:
    """Keep only rows `keep` of a KV cache, in place; False where the cache cannot (a cache
    class without `batch_select_indices`: the batch then runs whole)."""
    select = getattr(cache, "batch_select_indices", None)
    if select is None:
        return False
    select(torch.tensor(keep, device=device))
    return True


def _choose(logits: torch.Tensor, temperature: float, top_p: float,
            streams: list[torch.Generator]) -> torch.Tensor:
    """The next token of each row [B] from its logits [B, V]."""
    if temperature <= 0:
        return logits.argmax(dim=-1)  # [B]
    probs = torch.softmax(logits / temperature, dim=-1)  # [B, V]
    if top_p < 1:
        ranked, order = probs.sort(dim=-1, descending=True)  # [B, V]
        before = ranked.cumsum(dim=-1) - ranked  # mass of the tokens ranked above each
        ranked[before >= top_p] = 0  # the nucleus: the best tokens until top_p is reached
        probs = torch.zeros_like(probs).scatter(-1, order, ranked)  # [B, V]
    rows = probs.cpu()
    return torch.tensor([int(torch.multinomial(rows[b], 1, generator=streams[b]))
                         for b in range(len(streams))], device=logits.device)  # [B]


@torch.inference_mode()
def generate(model, prompts: Sequence[Sequence[int]], *, pad_id: int, stops: Stops,
             max_new_tokens: int, temperature: float = 0.0, top_p: float = 1.0,
             seed: int = 0) -> list[list[int]]:
    """The new tokens after each prompt, up to and including the token that stopped it (a
    newline's or end of text), at most `max_new_tokens`; in the order given."""
    device = next(model.parameters()).device
    ids, mask = _left_pad(prompts, pad_id, device)  # [B, L]
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # [B, L]: real tokens counted only
    cache_name, keeps_logits = _forward_names(type(model))
    keep_logits = {"logits_to_keep": 1} if keeps_logits else {}
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                **keep_logits)
    streams = [_stream(seed, prompt) for prompt in prompts]
    written: list[list[int]] = [[] for _ in prompts]
    done = [False] * len(prompts)
    begun = [False] * len(prompts)  # a row has written something that is not white space
    live = list(range(len(prompts)))  # the prompts still in the batch, by batch row
    position = positions[:, -1:]  # [b, 1]
    for step in range(max_new_tokens):
        chosen = _choose(out.logits[:, -1].float(), temperature, top_p,
                         [streams[r] for r in live])  # [b]
        for r, token in zip(live, chosen.tolist()):
            if done[r]:
                continue
            written[r].append(token)
            begun[r] = begun[r] or token not in stops.blank
            done[r] = token in stops.end or (begun[r] and token in stops.newline)
        if all(done) or step + 1 == max_new_tokens:
            break
        cache = out.cache if cache_name == "cache" else out.past_key_values
        keep = [row for row, r in enumerate(live) if not done[r]]
        if len(live) - len(keep) >= max(1, len(live) // 4) and _compact(cache, keep, device):
            rows = torch.tensor(keep, device=device)
            mask, position, chosen = mask[rows], position[rows], chosen[rows]
            live = [live[row] for row in keep]
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)  # [b, L + t]
        position = position + 1  # [b, 1]
        out = model(input_ids=chosen[:, None], attention_mask=mask, position_ids=position,
                    use_cache=True, **{cache_name: cache}, **keep_logits)
    return written
