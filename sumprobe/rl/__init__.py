"""Controlled sentiment generation: PPO fine-tuning of a causal LM (Ziegler et al. 2019).

ppo.py (the math, pure tensor functions), config.py (CtrlConfig), prompts.py (IMDB openings and
control prefixes), rewards.py (classifier / VADER), rollout.py (sampling with a KV cache),
policy.py (value head, loading), trainer.py (one PPO update), checkpoint.py, run.py (a whole
run), trl_algos.py (--algo rloo/grpo), runlog.py (the logs, result and Ctrl-C handling both
share), evaluate.py (ctrl-sample / ctrl-eval, `run_ctrl_eval`), health.py (when PPO's
diagnostics leave their usual ranges; pure), view.py (rich).
"""
