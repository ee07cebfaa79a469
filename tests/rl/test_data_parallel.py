"""ctrl-train's PPO under `torchrun` with two CPU processes (gloo): both ranks end each update
with the same weights, the tied embedding's sparse gradient rows included."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Run on each rank: one PPO update of the tiny policy, then every rank's checksum per parameter.
RANK_SCRIPT = """
import json, os, sys
import torch
from accelerate import Accelerator
from sumprobe.rl.config import CtrlConfig
from sumprobe.rl.policy import PolicyWithValueHead, load_causal_lm, load_tokenizer
from sumprobe.rl.prompts import PromptSampler, build_queries, prefix_ids
from sumprobe.rl.trainer import PPOTrainer

policy_dir, out = sys.argv[1], sys.argv[2]
accelerator = Accelerator(cpu=True)
rank = accelerator.process_index
config = CtrlConfig.from_dict(dict(steps=8, batch_size=8, forward_batch_size=4, gen_batch_size=4,
                                  mini_batch_size=2, ppo_epochs=2, txt_out_len=6, lr=1e-2, seed=0))
tokenizer = load_tokenizer(policy_dir)
queries = build_queries(["the movie was very", "a film and the plot", "it was not a"],
                        tokenizer, 3)
sampler = PromptSampler(queries, prefix_ids(tokenizer), config.seed + rank)
torch.manual_seed(0)
policy = PolicyWithValueHead(load_causal_lm(policy_dir))
trainer = PPOTrainer(config, policy, load_causal_lm(policy_dir), tokenizer,
                     lambda q, responses, t: [float(len(r)) for r in responses], sampler,
                     accelerator)
result = trainer.step()
names = [n for n, _ in trainer.unwrapped.named_parameters()]
sums = torch.stack([p.detach().double().sum() for p in trainer.unwrapped.parameters()])
every = accelerator.gather(sums[None]).tolist()  # [processes, parameters]
if rank == 0:
    json.dump({"names": names, "sums": every, "responses": result.responses,
               "sparse": trainer.unwrapped.lm.get_input_embeddings().sparse},
              open(out, "w"))
accelerator.wait_for_everyone()
torch.distributed.destroy_process_group()
# Skip the interpreter's teardown: gloo's threads, destroyed there, now and then abort a rank
# (SIGABRT) after its work is done and written.
sys.stdout.flush()
os._exit(0)
"""


def test_two_processes_hold_the_same_weights_after_an_update(tmp_path, tiny_policy_dir):
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    out = tmp_path / "sums.json"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), str(tiny_policy_dir), str(out)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
             "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(out.read_text())
    assert found["sparse"]  # the tiny GPT-2 ties its embeddings: the sparse path ran
    first, second = found["sums"]
    # Each rank sampled its own prompts and responses, so its own gradient differed, the
    # embedding rows it looked up most of all; after the all-reduce the weights must not.
    assert first == second, [n for n, a, b in zip(found["names"], first, second) if a != b]
    initial = untrained_sums(tiny_policy_dir)
    moved = [n for n, a, b in zip(found["names"], first, initial) if abs(a - b) > 1e-9]
    assert "lm.transformer.wte.weight" in moved  # the update did change the shared weight


def untrained_sums(policy_dir) -> list[float]:
    """Per-parameter sums of the untrained policy, in the trainer's parameter order."""
    from sumprobe.rl.policy import PolicyWithValueHead, load_causal_lm

    policy = PolicyWithValueHead(load_causal_lm(str(policy_dir)))
    return [float(p.detach().double().sum()) for p in policy.parameters()]


def test_ctrl_train_runs_under_torchrun(tmp_path, tiny_policy_dir, imdb_sample):
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "sumprobe", "ctrl-train", "--lm-name", str(tiny_policy_dir), "--reward", "vader",
         "--data", str(imdb_sample), "--steps", "8", "--batch-size", "4",
         "--mini-batch-size", "2", "--ppo-epochs", "1", "--txt-out-len", "4",
         "--save-every", "0", "--held-out", "0.3", "--output-dir", str(run)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
             "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert len((run / "log.jsonl").read_text().splitlines()) == 2
    assert json.loads((run / "run.json").read_text())["resolved"]["processes"] == 2
    assert (run / "checkpoint-000002").is_dir()
