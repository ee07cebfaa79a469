"""sumprobe's PPO update against trl 0.11.4's `PPOTrainer`, the last trl with the seed's step API.

Both sides get the same GPT-2-shaped policy (random weights, seeded, saved once and loaded by
both; dropout 0, the value head starting at 0), the same frozen reference (a copy), the same
reward, batch, mini-batch, epochs and PPO settings (the seed's: lr 1.41e-5, KL 0.2 adaptive,
clip 0.2, vf_coef 0.1, gamma 1, lambda 0.95), and each runs in its own process:

- check: one update on the same fixed samples (queries, responses, scores) with the mini-batch
  the whole batch, so the order of samples cannot matter: KL, losses, approxkl and clipfrac
  must agree to 1e-5 and so must the weights after the update.
- time: `--updates` full updates each (rollout of exactly `--response-len` sampled tokens,
  reward, PPO optimisation) after one untimed warm-up, per mini-batch size in
  `--mini-batches`: seconds per update by phase and the peak memory of the updates (CPU:
  the process's peak RSS, reset before them; CUDA: torch's peak allocation).

Nothing is downloaded: the vocabulary is GPT-2's size in made-up words ("t0" ... "t50256"), and
the reward is a fixed function of the sampled tokens (the share of even token ids, scaled to
[-3, 3], about the seed's classifier logit range), so it costs no model time on either side.

trl 0.11.4 needs transformers 4.x: install it beside, never into, the project's environment,
and name that environment's python (torch comes from the same wheel):

    python3.11 -m venv /tmp/trl011 && /tmp/trl011/bin/pip install torch==2.13.0 trl==0.11.4 \
        transformers==4.46.3 "accelerate<1.2" "numpy<2.2" rich
    python benchmarks/bench_ppo.py --trl-python /tmp/trl011/bin/python --output bench_ppo.json

On a machine whose python has torch, accelerate and numpy but not trl 0.11 (a GPU box), put
trl's own packages in a folder with `pip install --no-deps --target DIR` (see the README) and
name it: `--trl-python python --trl-pythonpath DIR --device cuda`. trl 0.11 imports `datasets`
at the top of its PPO trainer but uses it only for a dataset, which neither side passes; when
`datasets` is missing, the trl side puts an empty stand-in module in its place.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOCAB = 50257  # GPT-2's
EOS = VOCAB - 1
STATS = ("objective/kl", "ppo/loss/policy", "ppo/loss/value", "ppo/loss/total",
         "ppo/policy/approxkl", "ppo/policy/clipfrac", "ppo/val/clipfrac")
FINGERPRINT = ("transformer.h.0.attn.c_attn.weight", "transformer.h.{last}.mlp.c_fc.weight",
               "transformer.ln_f.weight", "transformer.wte.weight")
SETTINGS = dict(lr=1.41e-5, init_kl_coef=0.2, target=6.0, horizon=10000.0, gamma=1.0, lam=0.95,
                cliprange=0.2, cliprange_value=0.2, vf_coef=0.1)


# ---------------------------------------------------------------- shared by both sides

def gpt2_config(layers: int):
    from transformers import GPT2Config

    return GPT2Config(vocab_size=VOCAB, n_positions=1024, n_embd=768, n_layer=layers,
                      n_head=12, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      summary_first_dropout=0.0, bos_token_id=EOS, eos_token_id=EOS)


def build_tokenizer():
    """A word-level tokenizer over "t0" ... "t50256", the last the end of text: built in code on
    each side, so no tokenizer file crosses transformers versions."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = Tokenizer(models.WordLevel({f"t{i}": i for i in range(VOCAB)}, unk_token=f"t{EOS}"))
    words.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    words.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, eos_token=f"t{EOS}",
                                        pad_token=f"t{EOS}")
    tokenizer.padding_side = "left"
    return tokenizer


def reward_of(token_ids) -> float:
    """The share of even token ids, scaled to [-3, 3]."""
    ids = [int(i) for i in token_ids]
    return 6.0 * sum(1 for i in ids if i % 2 == 0) / max(len(ids), 1) - 3.0


def load_gpt2(work: Path, layers: int, device: str, name: str = "weights.pt"):
    """Saved weights in a GPT-2 built by this side's transformers (a state dict, not a
    from_pretrained folder, so no config file crosses versions)."""
    import torch
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel(gpt2_config(layers))
    model.load_state_dict(torch.load(work / name, weights_only=True))
    return model.to(device).eval()


def reference_file(task: str) -> str:
    """The check's reference is the policy with its weights nudged, so that the KL to it is
    not 0 and has to agree too; timing runs use a plain copy, as the seed does."""
    return "ref_weights.pt" if task == "check" else "weights.pt"


def reset_peak(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    else:
        try:  # Linux: writing 5 resets the peak resident set size (VmHWM)
            Path("/proc/self/clear_refs").write_text("5")
        except OSError:
            pass


def peak_mb(device: str) -> float:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------- sumprobe's side

def sumprobe_trainer(work: Path, args, mini: int, task: str = "time"):
    import torch
    from accelerate import Accelerator

    from sumprobe.core.reward import TASKS
    from sumprobe.rl.config import CtrlConfig
    from sumprobe.rl.policy import PolicyWithValueHead
    from sumprobe.rl.prompts import PromptSampler, Query
    from sumprobe.rl.trainer import PPOTrainer

    tokenizer = build_tokenizer()
    config = CtrlConfig.from_dict(dict(  # flat: PPO's own settings beside the shared ones
        lm_name="bench", batch_size=args.batch_size, mini_batch_size=mini,
        forward_batch_size=mini, gen_batch_size=args.batch_size, ppo_epochs=args.ppo_epochs,
        txt_out_len=args.response_len, seed=args.seed, **SETTINGS))
    samples = torch.load(work / "samples.pt", weights_only=True)
    queries = [Query(" ".join(f"t{i}" for i in row), tuple(row))
               for row in samples["pool"].tolist()]
    # No control prefix: the prompt is the query's tokens, as on trl's side.
    sampler = PromptSampler(queries, {task: () for task in TASKS}, args.seed)

    def reward(query_texts, responses, tasks):
        return [reward_of(int(w[1:]) for w in text.split()) for text in responses]

    policy = PolicyWithValueHead(load_gpt2(work, args.layers, "cpu"))
    ref = load_gpt2(work, args.layers, "cpu", reference_file(task)).requires_grad_(False)
    accelerator = Accelerator(cpu=args.device == "cpu")
    return PPOTrainer(config, policy, ref, tokenizer, reward, sampler, accelerator), samples


def sumprobe_check(work: Path, args) -> dict:

    from sumprobe.rl.prompts import Prompt

    trainer, samples = sumprobe_trainer(work, args, args.batch_size, "check")
    device = trainer.accelerator.device
    prompts = [Prompt("positive", "", tuple(row)) for row in samples["queries"].tolist()]
    stats = trainer.train_on(prompts, samples["responses"].to(device),
                             samples["scores"].to(device))
    weights = dict(trainer.unwrapped.lm.named_parameters())
    weights["v_head.weight"] = trainer.unwrapped.v_head.weight
    return {"stats": {k: stats[k] for k in STATS}, "weights": _fingerprint(weights, args)}


def sumprobe_time(work: Path, args, mini: int) -> dict:
    import torch

    trainer, _ = sumprobe_trainer(work, args, mini)
    torch.manual_seed(args.seed)
    rows = []
    for n in range(args.warmup + args.updates):
        if n == args.warmup:
            reset_peak(args.device)
        stats = trainer.step().stats
        rows.append({"rollout": stats["time/get_response"], "reward": stats["time/get_sentiment"],
                     "optimise": stats["time/optimization"], "update": stats["time/epoch"]})
    return {"updates": rows[args.warmup:], "peak_mb": peak_mb(args.device)}


# ---------------------------------------------------------------- trl 0.11.4's side

def trl_trainer(work: Path, args, mini: int, task: str = "time"):
    import torch

    try:
        import datasets  # noqa: F401
    except ImportError:  # imported at the top of trl's PPO trainer, used only for a dataset
        stand_in = types.ModuleType("datasets")
        stand_in.__spec__ = importlib.machinery.ModuleSpec("datasets", None)  # find_spec asks
        stand_in.Dataset = type("Dataset", (), {})
        sys.modules["datasets"] = stand_in
    import trl
    from trl import AutoModelForCausalLMWithValueHead, PPOConfig, PPOTrainer

    if not trl.__version__.startswith("0.11"):
        raise SystemExit(f"the trl side needs trl 0.11.x, found {trl.__version__}")
    tokenizer = build_tokenizer()
    models = []
    for name in ("weights.pt", reference_file(task)):
        model = AutoModelForCausalLMWithValueHead.from_pretrained(
            load_gpt2(work, args.layers, "cpu", name), summary_dropout_prob=0.0)
        torch.nn.init.zeros_(model.v_head.summary.weight)  # as sumprobe's value head starts
        torch.nn.init.zeros_(model.v_head.summary.bias)
        models.append(model)
    config = PPOConfig(batch_size=args.batch_size, mini_batch_size=mini,
                       ppo_epochs=args.ppo_epochs, learning_rate=SETTINGS["lr"],
                       init_kl_coef=SETTINGS["init_kl_coef"], adap_kl_ctrl=True,
                       target=SETTINGS["target"], horizon=SETTINGS["horizon"],
                       gamma=SETTINGS["gamma"], lam=SETTINGS["lam"],
                       cliprange=SETTINGS["cliprange"], cliprange_value=SETTINGS["cliprange_value"],
                       vf_coef=SETTINGS["vf_coef"], seed=args.seed, log_with=None,
                       accelerator_kwargs={"cpu": args.device == "cpu"})
    trainer = PPOTrainer(config, models[0], models[1], tokenizer)
    return trainer, torch.load(work / "samples.pt", weights_only=True)


def trl_check(work: Path, args) -> dict:
    trainer, samples = trl_trainer(work, args, args.batch_size, "check")
    device = trainer.accelerator.device
    stats = trainer.step([q.to(device) for q in samples["queries"]],
                         [r.to(device) for r in samples["responses"]],
                         [s.to(device) for s in samples["scores"]])
    model = trainer.accelerator.unwrap_model(trainer.model)
    weights = dict(model.pretrained_model.named_parameters())
    weights["v_head.weight"] = model.v_head.summary.weight
    return {"stats": {k: float(stats[k]) for k in STATS}, "weights": _fingerprint(weights, args)}


def trl_time(work: Path, args, mini: int) -> dict:
    import torch

    trainer, samples = trl_trainer(work, args, mini)
    device = trainer.accelerator.device
    pool = samples["pool"]
    generator = torch.Generator().manual_seed(args.seed)
    # The seed's sampling: the full distribution, exactly response_len tokens (no early stop).
    sampling = dict(min_length=-1, top_k=0, top_p=1.0, do_sample=True, pad_token_id=EOS,
                    max_new_tokens=args.response_len, min_new_tokens=args.response_len)
    torch.manual_seed(args.seed)
    rows = []
    for n in range(args.warmup + args.updates):
        if n == args.warmup:
            reset_peak(args.device)
        start = time.perf_counter()
        picks = torch.randperm(len(pool), generator=generator)[:args.batch_size]
        queries = [pool[i].to(device) for i in picks]
        responses = trainer.generate(queries, return_prompt=False, batch_size=args.batch_size,
                                     **sampling)
        rolled = time.perf_counter()
        scores = [torch.tensor(reward_of(r.tolist()), device=device) for r in responses]
        scored = time.perf_counter()
        trainer.step(queries, responses, scores)
        done = time.perf_counter()
        rows.append({"rollout": rolled - start, "reward": scored - rolled,
                     "optimise": done - scored, "update": done - start})
    return {"updates": rows[args.warmup:], "peak_mb": peak_mb(args.device)}


# ---------------------------------------------------------------- the run

def _fingerprint(weights: dict, args) -> dict:
    """A few whole tensors after the update (first and last block, final norm, embeddings,
    value head), enough to see whether the two updates moved the same weights the same way."""
    names = [n.format(last=args.layers - 1) for n in FINGERPRINT] + ["v_head.weight"]
    return {name: weights[name].detach().float().cpu().reshape(-1).tolist()[:200000]
            for name in names}


def side_main(args) -> None:
    """One side in its own process: `--side ours|trl --task check|time`."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.side == "ours":  # this checkout's sumprobe, installed or not
        sys.path.insert(0, str(ROOT))
    work = Path(args.work)
    torch.manual_seed(args.seed)
    runs = {("ours", "check"): sumprobe_check, ("trl", "check"): trl_check,
            ("ours", "time"): sumprobe_time, ("trl", "time"): trl_time}
    run = runs[(args.side, args.task)]
    result = run(work, args) if args.task == "check" else run(work, args, args.mini)
    (work / f"{args.side}-{args.task}-{args.mini}.json").write_text(json.dumps(result))


def prepare(work: Path, args) -> None:
    """The shared weights and samples: a seeded GPT-2 of this shape, a pool of queries, and one
    fixed batch of queries, responses and their scores for the check."""
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(args.seed)
    model = GPT2LMHeadModel(gpt2_config(args.layers))
    torch.save(model.state_dict(), work / "weights.pt")
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.02 * parameter.std() * torch.randn_like(parameter))
    torch.save(model.state_dict(), work / "ref_weights.pt")
    pool = torch.randint(0, EOS, (512, args.query_len))  # [512, Lq], no end-of-text
    queries = torch.randint(0, EOS, (args.batch_size, args.query_len))  # [B, Lq]
    responses = torch.randint(0, EOS, (args.batch_size, args.response_len))  # [B, T]
    scores = torch.tensor([reward_of(r) for r in responses.tolist()])  # [B]
    torch.save({"pool": pool, "queries": queries, "responses": responses, "scores": scores},
               work / "samples.pt")


def run_side(args, work: Path, side: str, task: str, mini: int) -> dict:
    python = sys.executable if side == "ours" else args.trl_python
    env = dict(os.environ)
    if side == "trl" and args.trl_pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.trl_pythonpath,
                                                          env.get("PYTHONPATH")]))
    command = [python, __file__, "--side", side, "--task", task, "--mini", str(mini),
               "--work", str(work), *args.passed]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"the {side} side failed ({task}, mini-batch {mini})")
    result = json.loads((work / f"{side}-{task}-{mini}.json").read_text())
    result["process_s"] = time.perf_counter() - started
    return result


def compare_check(ours: dict, theirs: dict) -> dict:
    rows = {}
    for key in STATS:
        a, b = ours["stats"][key], theirs["stats"][key]
        rows[key] = {"sumprobe": a, "trl": b, "abs_diff": abs(a - b)}
    weights = {name: max(abs(x - y) for x, y in zip(ours["weights"][name],
                                                   theirs["weights"][name]))
               for name in ours["weights"]}
    return {"stats": rows, "weights_max_abs_diff": weights,
            "equal_to_1e-5": all(r["abs_diff"] <= 1e-5 for r in rows.values())
            and all(d <= 1e-5 for d in weights.values())}


def _median(values):
    values = sorted(values)
    return values[len(values) // 2] if len(values) % 2 else sum(values[len(values) // 2 - 1:
                                                                      len(values) // 2 + 1]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="[default: cuda when available]")
    parser.add_argument("--trl-python", help="python of an environment with trl 0.11.4 (and "
                        "transformers 4.x); without it only sumprobe's side runs")
    parser.add_argument("--trl-pythonpath", help="folder put first on the trl side's "
                        "PYTHONPATH (trl 0.11.4 and transformers 4.x installed with --target)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mini-batches", default="16,4", help="mini-batch sizes to time")
    parser.add_argument("--ppo-epochs", type=int, default=4)
    parser.add_argument("--query-len", type=int, default=8)
    parser.add_argument("--response-len", type=int, default=20)
    parser.add_argument("--layers", type=int, default=12, help="12: GPT-2 small (124M)")
    parser.add_argument("--updates", type=int, default=3, help="timed updates per side")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch threads [default: torch's]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-check", action="store_true", help="skip the equality check")
    parser.add_argument("--output", help="write every figure as JSON here")
    parser.add_argument("--side", choices=("ours", "trl"), help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=("check", "time"), help=argparse.SUPPRESS)
    parser.add_argument("--mini", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device is None:
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.side:
        side_main(args)
        return
    args.passed = ["--device", args.device, "--batch-size", str(args.batch_size),
                   "--ppo-epochs", str(args.ppo_epochs), "--query-len", str(args.query_len),
                   "--response-len", str(args.response_len), "--layers", str(args.layers),
                   "--updates", str(args.updates), "--warmup", str(args.warmup),
                   "--seed", str(args.seed)] + (["--threads", str(args.threads)]
                                                if args.threads else [])
    sides = ["ours"] + (["trl"] if args.trl_python else [])
    minis = [int(m) for m in args.mini_batches.split(",")]
    report = {"device": args.device, "settings": {k: v for k, v in vars(args).items()
                                                  if k not in ("passed", "side", "task",
                                                               "mini", "work")},
              "ppo": SETTINGS}
    print(f"device {args.device}; GPT-2 shape, {args.layers} layers; batch {args.batch_size}, "
          f"{args.ppo_epochs} epochs, query {args.query_len} + response {args.response_len} "
          f"tokens; {args.updates} timed updates after {args.warmup} warm-up; load average "
          f"{os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-ppo-") as folder:
        work = Path(folder)
        prepare(work, args)
        if len(sides) == 2 and not args.no_check:
            check = compare_check(run_side(args, work, "ours", "check", args.batch_size),
                                  run_side(args, work, "trl", "check", args.batch_size))
            report["check"] = check
            print(f"\nfirst update, same weights and samples, mini-batch = batch "
                  f"({args.batch_size}), {args.ppo_epochs} epochs:")
            print(f"{'statistic':22} {'sumprobe':>14} {'trl 0.11.4':>14} {'|diff|':>10}")
            for key, row in check["stats"].items():
                print(f"{key:22} {row['sumprobe']:14.8f} {row['trl']:14.8f} "
                      f"{row['abs_diff']:10.2e}")
            worst = max(check["weights_max_abs_diff"].values())
            print(f"weights after the update: largest |diff| {worst:.2e} "
                  f"({len(check['weights_max_abs_diff'])} tensors compared)")
            print(f"equal to 1e-5: {'yes' if check['equal_to_1e-5'] else 'NO'}")
        report["time"] = {}
        for mini in minis:
            for side in sides:
                result = run_side(args, work, side, "time", mini)
                report["time"][f"{side}-{mini}"] = result
    print(f"\n{'side':10} {'mini-batch':>10} {'rollout s':>10} {'reward s':>9} "
          f"{'optimise s':>11} {'update s':>9} {'samples/s':>10} {'peak MB':>9}")
    for mini in minis:
        for side in sides:
            result = report["time"][f"{side}-{mini}"]
            parts = {k: _median([u[k] for u in result["updates"]])
                     for k in ("rollout", "reward", "optimise", "update")}
            result["median"] = parts
            name = "sumprobe" if side == "ours" else "trl 0.11.4"
            print(f"{name:10} {mini:10d} {parts['rollout']:10.2f} {parts['reward']:9.3f} "
                  f"{parts['optimise']:11.2f} {parts['update']:9.2f} "
                  f"{args.batch_size / parts['update']:10.2f} {result['peak_mb']:9.0f}")
        if len(sides) == 2:
            ours = report["time"][f"ours-{mini}"]["median"]["update"]
            theirs = report["time"][f"trl-{mini}"]["median"]["update"]
            report["time"][f"speedup-{mini}"] = theirs / ours
            print(f"{'':10} {mini:10d}  sumprobe's update throughput / trl's: "
                  f"{theirs / ours:.2f}x (target >= 2)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
