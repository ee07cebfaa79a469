"""The seed's third step: a supervised summarization policy (`sft-train`), then the same tuned
against sumprobe's own reward model (`rlhf-train`), judged along the way by judges it never
optimised (Stiennon et al. 2020; Gao et al. 2022).

config.py  SFTConfig, RLHFConfig: every setting of the two commands, one field each
data.py    (document, summary) pairs, documents, and the prompt (Stiennon et al.'s format)
sft.py     supervised training through trl's SFTTrainer inside the run scaffold
task.py    the summarization task as any RL algorithm sees it: prompts, stops, the reward
judges.py  held-out summaries scored by the proxy, gold reward models, Shannon, length, KL
train.py   a whole rlhf-train run over the scaffold and the algorithm registry
"""
