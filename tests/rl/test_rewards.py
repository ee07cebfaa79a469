"""Rewards: the positive label by name, batched classifier scores, VADER, the task mapping."""

import pytest
import torch

from sumprobe.core.reward import task_reward
from sumprobe.errors import ModelError
from sumprobe.rl.rewards import (
    VADER_SCALE,
    ClassifierScorer,
    SentimentReward,
    VaderScorer,
    build_reward,
    positive_label_index,
)


@pytest.mark.parametrize("id2label, wanted, index", [
    ({0: "NEGATIVE", 1: "POSITIVE"}, None, 1),
    ({0: "POSITIVE", 1: "NEGATIVE"}, None, 0),  # by name, never by position
    ({0: "neg", 1: "pos"}, None, 1),
    ({0: "bad", 1: "good"}, "Good", 1),
])
def test_positive_label_by_name(id2label, wanted, index):
    assert positive_label_index(id2label, wanted) == index


def test_no_positive_label_is_a_clear_error():
    with pytest.raises(ModelError, match="no label named positive or pos.*--cls-positive-label"):
        positive_label_index({0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(ModelError, match="no label named 'happy'"):
        positive_label_index({0: "NEGATIVE", 1: "POSITIVE"}, "happy")


def test_classifier_batches_and_keeps_order(tiny_classifier_dir):
    scorer = ClassifierScorer.load(str(tiny_classifier_dir), None, torch.device("cpu"), 2)
    texts = ["a fine film", "dull", "one of the worst plots I have ever sat through", "ok"]
    batched = scorer.positive_logits(texts)
    one_by_one = [scorer.positive_logits([t])[0] for t in texts]
    assert batched == pytest.approx(one_by_one, abs=1e-5)
    with torch.no_grad():
        inputs = scorer.tokenizer(texts[2], return_tensors="pt")
        direct = scorer.model(**inputs).logits[0, 1].item()  # label 1 is POSITIVE
    assert batched[2] == pytest.approx(direct, abs=1e-5)


def test_classifier_without_positive_label(unlabeled_classifier_dir):
    with pytest.raises(ModelError, match="no label named positive"):
        ClassifierScorer.load(str(unlabeled_classifier_dir), None, torch.device("cpu"), 2)
    scorer = ClassifierScorer.load(str(unlabeled_classifier_dir), "label_1", torch.device("cpu"), 2)
    assert scorer.positive_index == 1


def test_missing_classifier_names_the_way_out(tmp_path):
    with pytest.raises(ModelError, match="--reward vader"):
        build_reward("classifier", str(tmp_path / "none"), None, torch.device("cpu"), 2)


def test_vader_is_scaled_and_signed():
    scorer = VaderScorer()
    good, bad, flat = scorer.positive_logits(["A wonderful, moving film. I loved it!",
                                              "Awful. The worst, most boring movie ever.",
                                              "The film is 90 minutes long."])
    assert 0 < good <= VADER_SCALE and -VADER_SCALE <= bad < 0 and flat == 0.0


class FixedScorer:
    name = "fixed"

    def __init__(self, values):
        self.values = values
        self.seen = None

    def positive_logits(self, texts):
        self.seen = list(texts)
        return [self.values[t] for t in texts]


def test_sentiment_reward_scores_query_plus_response_per_task():
    scorer = FixedScorer({" Good" + " fun": 2.0, " Bad" + " dull": -1.5})
    reward = SentimentReward(scorer)
    tasks = ["positive", "neutral"]
    assert reward([" Good", " Bad"], [" fun", " dull"], tasks) == [
        task_reward(2.0, "positive"), task_reward(-1.5, "neutral")]
    assert scorer.seen == [" Good fun", " Bad dull"]  # no control prefix in what is scored
    with pytest.raises(ValueError, match="unknown task"):
        reward([" Good"], [" fun"], ["happy"])


def test_a_gpt2_style_classifier_without_a_pad_token_scores_in_batches(tiny_policy_dir, tmp_path):
    # A GPT-2 classifier reads the last real token; its tokenizer has no pad token, so batching
    # texts of different lengths needs the end-of-text fallback, told to the model too.
    from transformers import AutoTokenizer, GPT2Config, GPT2ForSequenceClassification

    folder = tmp_path / "gpt2-classifier"
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy_dir)
    assert tokenizer.pad_token is None
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tokenizer), n_embd=16, n_layer=1, n_head=2,
                        n_positions=64, id2label={0: "NEGATIVE", 1: "POSITIVE"},
                        label2id={"NEGATIVE": 0, "POSITIVE": 1})
    GPT2ForSequenceClassification(config).save_pretrained(folder)
    scorer = ClassifierScorer.load(str(folder), None, torch.device("cpu"), 4)
    texts = ["a fine film", "one of the worst plots I have ever sat through", "ok"]
    batched = scorer.positive_logits(texts)
    assert batched == pytest.approx([scorer.positive_logits([t])[0] for t in texts], abs=1e-5)


def test_a_model_without_a_classification_head_is_refused_as_the_reward(tiny_policy_dir):
    # A causal LM (or a masked LM) as --cls-model-name would load with a random head and give
    # rewards that mean nothing; its config says so before any weights load.
    with pytest.raises(ModelError, match="is a GPT2LMHeadModel, not a sequence classifier"):
        build_reward("classifier", str(tiny_policy_dir), None, torch.device("cpu"), 2)
