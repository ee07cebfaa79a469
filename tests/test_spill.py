"""Per-sample rows kept on disk (`SpilledRows`), and the accuracy tables read from them as
compact columns: the same figures as from rows held in memory."""

from __future__ import annotations

import numpy as np
import pytest

from sumprobe.core import stats
from sumprobe.core.stats import StatsConfig
from sumprobe.datasets import BASELINE
from sumprobe.measures.fill_in import Sample
from sumprobe.measures.single import accuracy
from sumprobe.measures.spill import SpilledRows


@pytest.mark.parametrize("in_memory", [0, 2, 100])  # all on disk, some, none
def test_rows_come_back_in_order_as_often_as_asked(in_memory):
    rows = SpilledRows(in_memory)
    assert not rows and len(rows) == 0 and list(rows) == []
    rows.extend([{"item": 0}, {"item": 1}])
    rows.extend([])
    assert list(rows) == [{"item": 0}, {"item": 1}]
    rows.extend([{"item": 2}])  # after a read: appended, not written over
    assert [r["item"] for r in rows] == [0, 1, 2] and len(rows) == 3 and rows
    assert [r["item"] for r in rows] == [0, 1, 2]
    rows.extend({"item": i} for i in range(3, 7))
    assert [r["item"] for r in rows] == list(range(7)) and len(rows) == 7
    assert (rows._file is None) == (in_memory >= 7)
    rows.close()
    assert list(rows) == []


def test_rows_beyond_those_kept_are_not_held_in_memory():
    rows = SpilledRows(in_memory=0)
    block = [{"item": i, "text": "x" * 100} for i in range(1000)]
    rows.extend(block)
    block[0]["text"] = "changed"  # what was written is what comes back
    first = next(iter(rows))
    assert first == {"item": 0, "text": "x" * 100} and first is not block[0]


def _sample(item, mask, group, hit, doc, summary=None, logprob=-1.0):
    return Sample(item=item, doc_id=doc, source="t", group=group, mask=mask, word="w",
                  word_index=0, top_tokens=("a", "b", "c"), top1_hit=hit, topk_hit=True,
                  logprob=logprob, truncated=False, summary=summary)


def _paired_samples(rng, n_docs=12):
    samples = []
    for item in range(n_docs):
        for mask in range(int(rng.integers(1, 3))):
            for group, summary in ((BASELINE, None), ("chosen", 0), ("rejected", 1)):
                samples.append(_sample(item, mask, group, bool(rng.random() < 0.4), f"d{item}",
                                       summary, float(-rng.random())))
    rng.shuffle(samples)  # the order a run would not guarantee
    return samples


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_from_columns_equals_the_same_figures_by_hand(seed):
    samples = _paired_samples(np.random.default_rng(seed))
    config = StatsConfig(n_resamples=300)
    spilled = SpilledRows(in_memory=5)
    spilled.extend(samples)
    rows, pairs, top_k = accuracy(spilled, ["chosen", "rejected"], config)
    assert top_k == 3
    alone = {(s.item, s.mask): s.top1_hit for s in samples if s.group == BASELINE}
    for row in rows:
        members = [s for s in samples if s.group == row.group]
        hits = [float(s.top1_hit) for s in members]
        docs = [s.doc_id for s in members]
        assert row.n == len(members)
        assert row.top1 == stats.mean_ci(hits, docs, **config.options())
        if row.group != BASELINE:
            assert row.vs_baseline == stats.paired_mean_difference(
                hits, [float(alone[(s.item, s.mask)]) for s in members], docs,
                **config.options())
    [pair] = pairs
    chosen = [s for s in samples if s.group == "chosen"]
    rejected = {(s.item, s.mask): s.top1_hit for s in samples if s.group == "rejected"}
    assert pair.paired
    assert pair.difference == stats.paired_mean_difference(
        [float(s.top1_hit) for s in chosen], [float(rejected[(s.item, s.mask)]) for s in chosen],
        [s.doc_id for s in chosen], **config.options())


def test_groups_on_different_masks_compare_their_help_over_the_document():
    rng = np.random.default_rng(4)
    samples = [s for s in _paired_samples(rng, 15)
               if not (s.group == "rejected" and s.item % 3 == 0)]  # rejected misses some
    config = StatsConfig(n_resamples=300)
    _, [pair], _ = accuracy(samples, ["chosen", "rejected"], config)
    alone = {(s.item, s.mask): s.top1_hit for s in samples if s.group == BASELINE}
    helps = {g: [(int(s.top1_hit) - int(alone[(s.item, s.mask)]), s.doc_id) for s in samples
                 if s.group == g] for g in ("chosen", "rejected")}
    assert not pair.paired
    assert pair.difference == stats.unpaired_difference(
        [h for h, _ in helps["chosen"]], [h for h, _ in helps["rejected"]],
        [d for _, d in helps["chosen"]], [d for _, d in helps["rejected"]], **config.options())


def test_spilled_rows_are_never_unpickled(monkeypatch):
    import pickle

    def refused(*args, **kwargs):
        raise AssertionError("a spilled row was unpickled")

    monkeypatch.setattr(pickle, "load", refused)
    monkeypatch.setattr(pickle, "loads", refused)
    samples = _paired_samples(np.random.default_rng(0))
    rows = SpilledRows(in_memory=3)
    rows.extend(samples[:10])
    rows.extend(samples[10:])
    assert rows._file is not None and list(rows) == samples
    rows._file.seek(0)
    assert b"sumprobe-codec" in rows._file.read(64)  # the codec's frames, not pickle's


def test_rows_the_codec_cannot_store_stay_in_memory_in_their_place():
    from dataclasses import dataclass

    @dataclass
    class PluginRow:  # a plug-in measure's row, not registered with codec.storable
        item: int

    rows = SpilledRows(in_memory=1)
    rows.extend([{"item": 0}, {"item": 1}])
    rows.extend([PluginRow(2), PluginRow(3)])
    rows.extend([{"item": 4}])
    assert [r["item"] if isinstance(r, dict) else r.item for r in rows] == [0, 1, 2, 3, 4]
    assert len(rows) == 5
