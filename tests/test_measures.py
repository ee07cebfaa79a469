"""Measures on models whose answers we control or can recompute: BLANC-help counts by hand,
Shannon log-likelihoods against a plain forward pass, the single measure's help."""

from __future__ import annotations

import math

import pytest
import torch

from sumprobe.datasets import ProbeItem, Summary
from sumprobe.measures import MeasureConfig, score_summaries
from sumprobe.measures.blanc import BlancConfig, blanc_help
from sumprobe.measures.fill_in import ProbeConfig, run_probe
from sumprobe.measures.shannon import ShannonResult, shannon_many

DOCUMENT = "The landlord would raise their rent. My apartment is cold in winter."


class SummaryCopier:
    """A masked 'model' that fills a mask right exactly when the summary holds the answer.

    It finds which document sentence an input holds (the unmasked tokens match), reads the
    answer at each mask, and predicts it if that token occurs in the help part of the input.
    """

    def __init__(self, engine, sentences: list[list[int]]):
        self.text, self.window, self.name = engine.text, engine.window, "copier"
        self.sentences, self.mask_id = sentences, engine.text.tokenizer.mask_token_id

    def fill(self, inputs, on_progress=None):
        answers = []
        suffix = len(self.text.suffix)
        for ids, positions in inputs:
            body = ids[: len(ids) - suffix]
            for sentence in self.sentences:
                tail = body[len(body) - len(sentence):]
                if len(tail) == len(sentence) and all(
                        a == b for a, b in zip(tail, sentence) if a != self.mask_id):
                    break
            else:
                raise AssertionError("input holds no known sentence")
            start = len(body) - len(sentence)
            helped = set(body[len(self.text.prefix): start])
            truth = [sentence[p - start] for p in positions]
            answers.append(tuple(t if t in helped else self.mask_id for t in truth))
        return answers


def _sentences(engine):
    tokenizer = engine.text.tokenizer
    return [tokenizer(s, add_special_tokens=False)["input_ids"]
            for s in ("The landlord would raise their rent.", "My apartment is cold in winter.")]


@pytest.mark.parametrize("rule, eligible", [("length", 8), ("stopword", 6)])
@pytest.mark.parametrize("gap", [1, 2, 6])
def test_blanc_counts_by_hand(bert, rule, eligible, gap):
    # Tiny vocabulary: the landlord would raise the ##ir rent . / my apartment is cold in winter .
    # length rule: landlord would raise the(lead of their) rent apartment cold winter -> 8
    # stopword rule: landlord raise rent apartment cold winter -> 6
    # The summary holds landlord and apartment: those two are right only with it (S01 = 2).
    copier = SummaryCopier(bert, _sentences(bert))
    [result] = blanc_help(copier, DOCUMENT, ["landlord apartment"], BlancConfig(gap=gap, rule=rule))
    counts = result.counts
    assert (counts.s01, counts.s00, counts.s10, counts.s11) == (2, eligible - 2, 0, 0)
    assert counts.relative == pytest.approx(2 / eligible)
    assert counts.improve == pytest.approx(2 / eligible)
    assert result.cut == 0


def test_blanc_runs_on_a_real_tiny_model_and_counts_cut_inputs(bert):
    long_summary = "The landlord raised the rent again. " * 40  # far beyond 128 tokens
    short, long = blanc_help(bert, DOCUMENT, ["landlord apartment", long_summary], BlancConfig())
    assert short.counts.total == long.counts.total == 8  # the same masked tokens
    assert short.cut == 0 and long.cut == 2  # both sentences' inputs were cut


def test_blanc_needs_a_masked_model(gpt2):
    with pytest.raises(Exception, match="masked LM"):
        blanc_help(gpt2, DOCUMENT, ["x"], BlancConfig())


def test_shannon_normalisation_by_hand():
    result = ShannonResult(help=-8.0, base=-10.0, full=-2.0, document_cut=False,
                           summary_cut=False)
    assert result.score == pytest.approx(0.25) and result.information_difference == 2.0
    assert math.isnan(ShannonResult(-8.0, -10.0, -10.0, False, False).score)


def test_shannon_log_likelihoods_match_a_plain_forward_pass(gpt2):
    summary = "Rent up, flat cold."
    [[result]] = shannon_many(gpt2, [(DOCUMENT, [summary])])
    tokenizer, model = gpt2.text.tokenizer, gpt2.model
    start = [tokenizer.eos_token_id]
    doc = tokenizer(DOCUMENT)["input_ids"]

    def loglik(prompt_ids):
        ids = torch.tensor([start + prompt_ids + doc])
        with torch.no_grad():
            logprobs = model(ids).logits[0].log_softmax(-1)
        first = len(start) + len(prompt_ids)
        return sum(logprobs[t - 1, ids[0, t]].item() for t in range(first, ids.shape[1]))

    assert result.base == pytest.approx(loglik([]), abs=1e-3)
    assert result.help == pytest.approx(loglik(tokenizer(summary + "\n")["input_ids"]), abs=1e-3)
    assert result.full == pytest.approx(loglik(tokenizer(DOCUMENT + "\n")["input_ids"]),
                                        abs=1e-3)
    assert not result.document_cut and not result.summary_cut


def test_shannon_cuts_an_overlong_summary_and_says_so(gpt2):
    long_summary = "The landlord raised the rent again and again. " * 60
    [[result]] = shannon_many(gpt2, [(DOCUMENT, [long_summary])])
    assert result.summary_cut and math.isfinite(result.help)


def test_shannon_needs_a_causal_model(bert):
    with pytest.raises(Exception, match="causal LM"):
        shannon_many(bert, [(DOCUMENT, ["x"])])


def test_single_measure_is_the_mean_help_over_masks(bert):
    item = ProbeItem("d", DOCUMENT, (Summary("a", "landlord apartment"), Summary("b", "cold")),
                     "test")
    config = MeasureConfig("single", ProbeConfig(masks_per_doc=3, seed=1))
    run = score_summaries([item], bert, config)
    assert [s.group for s in run.scores] == ["a", "b"]
    samples = run_probe([item], bert, config.options).samples
    alone = [x.top1_hit for x in samples if x.group == "document"]
    for score in run.scores:
        assert score.details["masks"] == 3
        with_summary = [x.top1_hit for x in samples if x.group == score.group]
        assert score.details["accuracy"] == pytest.approx(sum(with_summary) / 3)
        assert score.score == pytest.approx((sum(with_summary) - sum(alone)) / 3)


def test_blanc_gives_no_score_where_nothing_can_be_masked(bert):
    from sumprobe.datasets import ProbeItem, Summary
    from sumprobe.measures import MeasureConfig, score_summaries

    # Every token is a stop word or too short for the length rule: nothing to mask.
    item = ProbeItem("d", "It is so. We do.", (Summary("a", "it is"),), "test")
    run = score_summaries([item], bert, MeasureConfig("blanc-help"))
    assert math.isnan(run.scores[0].score)
    assert run.skipped["no token to mask (blanc-help)"] == 1
