"""Controlled sentiment generation: RL fine-tuning of a causal LM (Ziegler et al. 2019).

config.py (CtrlConfig: a run's shared settings), options.py (each algorithm's own settings),
algorithms.py (the registry: ppo, rloo, grpo; `RLSetup`, `TrainResult`), task.py (the ctrl
task: prompts, tokenizer, reward, the quick checks), run.py (`train_ctrl`: a whole run through
the scaffold in `sumprobe.trainers`), learner.py (sumprobe's PPO as a registered learner),
trainer.py (one PPO update), ppo.py (the math, pure tensor functions), trl_algos.py (trl's
RLOO/GRPO), checkpoint.py (what makes a PPO checkpoint whole; finding the model to use),
prompts.py (IMDB openings and control prefixes), rewards.py (classifier / VADER), rollout.py
(sampling with a KV cache), policy.py (value head, loading), evaluate.py (ctrl-sample and the
evaluation), ctrl_eval.py (`run_ctrl_eval`), health.py (when PPO's diagnostics leave their
usual ranges; pure), view.py (rich).
"""
