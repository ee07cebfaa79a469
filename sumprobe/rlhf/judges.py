"""Judges a policy never optimised, on documents it never trained on: optimising a learned reward
overfits it (Gao et al. 2022, "Scaling laws for reward model overoptimization"), so a gain of
the proxy (the reward model the policy optimises) is only a gain when gold judges see it too.

Every `eval_every` updates the policy summarizes the held-out documents (sampled, with a fixed
seed), and each summary is scored by the proxy, by every gold reward model (trained by rm-train
on other posts or another base), by the Shannon score of a judge LM, and by its length; the KL
of the policy to its reference on those samples is measured too. One line per judging goes to
`judges.jsonl`; `judges.png` draws every judge against the KL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch

from sumprobe.core.summaries import first_line

JUDGES_FILE = "judges.jsonl"
PLOT_FILE = "judges.png"
SEED = 1234  # the judgings' sampling stream: the same at every judging


class Judges:
    """The held-out documents and the judges of one run (see the module docstring)."""

    def __init__(self, documents, prompts, proxy, gold: Sequence[str],
                 judge_lm: str | None, stops, max_new_tokens: int, pad_id: int,
                 device="cpu", say=lambda message: None):
        self.documents, self.prompts, self.proxy = documents, prompts, proxy
        self.stops, self.max_new, self.pad_id, self.say = stops, max_new_tokens, pad_id, say
        from sumprobe.rm.model import model_label

        self.gold = [(model_label(path), _load_reward_model(path, device)) for path in gold]
        self.shannon = _shannon_engine(judge_lm, device) if judge_lm else None

    def judge(self, policy_lm, ref_lm, tokenizer, step: int) -> dict:
        """Write, score and measure once (see the module docstring); the line it logs."""
        from sumprobe.engine.generate import generate
        from sumprobe.rl.rollout import response_mask

        policy_lm.eval()
        written = generate(policy_lm, self.prompts, pad_id=self.pad_id, stops=self.stops,
                           max_new_tokens=self.max_new, temperature=1.0, seed=SEED)
        width = max(len(w) for w in written)
        padded = torch.tensor([w + [self.pad_id] * (width - len(w)) for w in written])  # [N, T]
        mask, ended = response_mask(padded, self.stops)  # [N, T], [N]
        for row, tokens in enumerate(written):  # what generate wrote, not the padding
            mask[row, len(tokens):] = 0
        summaries = [_first_line(tokenizer, tokens) for tokens in written]
        from sumprobe.rlhf.task import proxy_rewards

        line = {"step": step, "documents": len(summaries),
                "kl": _kl(policy_lm, ref_lm, self.prompts, padded, mask, self.pad_id),
                "proxy": _mean(proxy_rewards(self.proxy, self.documents, summaries, 8)),
                "words": _mean([len(s.split()) for s in summaries]),
                "ended": float(ended.float().mean())}
        triples = [(d.text, d.context, s) for d, s in zip(self.documents, summaries)]
        for name, model in self.gold:
            line[f"gold/{name}"] = _mean(model.score(triples, 8)[0])
        if self.shannon is not None:
            line["shannon"] = _mean(_shannon(self.shannon, self.documents, summaries))
        line["example"] = summaries[0] if summaries else ""
        return line


def _first_line(tokenizer, tokens) -> str:
    return first_line(tokenizer.decode(list(tokens), skip_special_tokens=True))


def _mean(values) -> float:
    found = [float(v) for v in values if v == v]
    return sum(found) / len(found) if found else float("nan")


@torch.no_grad()
def _kl(policy_lm, ref_lm, prompts, responses: torch.Tensor, mask: torch.Tensor,
        pad_id: int) -> float:
    """Mean over documents of sum_t log pi(y_t) - log pi_ref(y_t) over each summary's tokens
    (the samples' estimate of KL(pi || pi_ref), in nats)."""
    from sumprobe.rl.policy import response_logits
    from sumprobe.rl.ppo import logprobs_from_logits
    from sumprobe.rl.rollout import left_pad

    device = next(policy_lm.parameters()).device
    n = responses.shape[1]
    total = 0.0
    for start in range(0, len(prompts), 8):
        rows = range(start, min(start + 8, len(prompts)))
        ids, attention = left_pad([list(prompts[r]) + responses[r].tolist() for r in rows],
                                  pad_id, device)  # [b, L]
        labels = ids[:, -n:]  # [b, T]
        mine = logprobs_from_logits(response_logits(policy_lm, ids, attention, n)[0].float(),
                                    labels)  # [b, T]
        theirs = logprobs_from_logits(response_logits(ref_lm, ids, attention, n)[0].float(),
                                      labels)  # [b, T]
        total += float(((mine - theirs) * mask[list(rows)].to(device)).sum())
    return total / max(1, len(prompts))


def _load_reward_model(path: str, device):
    from sumprobe.rm.model import load_reward_model

    return load_reward_model(path, str(device))


def _shannon_engine(name: str, device):
    from sumprobe.engine import ModelConfig, build_engine

    return build_engine(ModelConfig(name, "causal", str(device).split(":")[0],
                                    use_cache=False), "causal")


def _shannon(engine, documents, summaries) -> list[float]:
    from sumprobe.measures.shannon import shannon_many

    results = shannon_many(engine, [(d.text, [s]) for d, s in zip(documents, summaries)])
    return [found[0].score for found in results]


def append(run_dir: Path, line: dict) -> None:
    with open(run_dir / JUDGES_FILE, "a", encoding="utf-8") as out:
        out.write(json.dumps({k: (None if isinstance(v, float) and v != v else v)
                              for k, v in line.items()}, ensure_ascii=False) + "\n")


def read(run_dir: Path) -> list[dict]:
    """The judgings that read back (a line cut short by a crash is left out)."""
    from sumprobe.trainers.log import read_log

    return [row for row in read_log(run_dir, JUDGES_FILE)
            if isinstance(row.get("step"), int) and isinstance(row.get("kl"), (int, float))]


def keep_before(run_dir: Path, step: int) -> None:
    """A resumed run's judgings from the step it resumes at on are dropped (they are made
    again), as its log's lines after that step are; rewritten whole."""
    from sumprobe.files import write_jsonl

    if (run_dir / JUDGES_FILE).exists():
        write_jsonl(run_dir / JUDGES_FILE, [row for row in read(run_dir) if row["step"] < step])


def draw(run_dir: Path, caption: str = "") -> Path | None:
    """judges.png: every judge's mean score of the held-out summaries against the KL to the
    reference (Gao et al.'s view), and the summaries' length."""
    rows = read(run_dir)
    if len(rows) < 2:
        return None
    from sumprobe.plots import pyplot, save_figure

    plt = pyplot()
    gold = sorted({k for row in rows for k in row if k.startswith("gold/")})
    panels = [("proxy (optimised)", ["proxy"]), ("gold judges (never optimised)",
                                                 [*gold, *(["shannon"] if any(
                                                     "shannon" in r for r in rows) else [])]),
              ("summary length (words)", ["words"])]
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    kl = [row["kl"] for row in rows]
    for panel, (title, keys) in zip(axes, panels):
        for key in keys:
            values = [row.get(key) for row in rows]
            panel.plot(kl, [v if v is not None else float("nan") for v in values], marker="o",
                       label=key)
            for x, y, row in zip(kl, values, rows):
                if y is not None and key == keys[0]:
                    panel.annotate(str(row["step"]), (x, y), fontsize=6, color="grey")
        panel.set_xlabel("KL to the reference (nats per summary)")
        panel.set_title(title, fontsize=9, pad=8)
        if len(keys) > 1:
            panel.legend(fontsize=7)
    path = run_dir / PLOT_FILE
    save_figure(figure, path, caption)
    return path
