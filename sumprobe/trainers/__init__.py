"""The run scaffold: what every trainer shares (PPO, RLOO, GRPO, the reward model, and the
trainers to come), so that an algorithm brings only its math and its settings.

folder.py       a run folder is new, empty or a run of the same command; outputs stay off its files
record.py       run.json: settings with absolute paths, data by hash; a changed file refused
resume.py       --resume: the newest complete checkpoint, settings merged one way, work left
checkpoints.py  checkpoint-N found, written whole, the newest `save_total_limit` kept
log.py          log.jsonl / samples.jsonl, Ctrl-C (the first saves, the second stops)
run.py          `Run`: the above for one run, checks first and nothing written before `start`
loop.py         `drive`: the loop of an algorithm that brings one update (a `Learner`)
hf.py           `train_hf`: the same around a Hugging Face Trainer (trl's trainers)
curves.py       the training-curve plot from log.jsonl

Nothing here imports torch at module level, so a command's --help stays fast.
"""
