"""`axis`: summaries of a post rated 1-7 on `overall`, `accuracy`, `coverage` and `coherence`
(OpenAI's summarize-from-feedback `axis` files, one summary a line; the Hub's `axis`
configuration). A record is a post with its rated summaries, each in the group of its score on
`--axis`; `compare --groups 7,4` sets the summaries rated 7 beside those rated 4.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

from sumprobe.datasets.base import RATED, Dataset, parse_groups
from sumprobe.datasets.feedback import HUB_DATASET, document_of
from sumprobe.datasets.reading import field_of, system_name
from sumprobe.datasets.records import ProbeItem, Summary
from sumprobe.errors import DataError, OptionError

AXES = ("overall", "accuracy", "coverage", "coherence")
SCORES = tuple(str(score) for score in range(1, 8))


def axis_score(row: dict, axis: str, where: str) -> int | None:
    """A line's score on one axis (1-7), or None when it has none."""
    axes = field_of(row, "summary.axes", where, dict)
    score = axes.get(axis)
    if score is None:
        return None
    # json reads Infinity and NaN too: a finite number first, then a whole one
    whole = (isinstance(score, (int, float)) and not isinstance(score, bool)
             and math.isfinite(score) and score == int(score))
    if not whole or not 1 <= score <= 7:
        raise DataError(f"{where}: field 'summary.axes.{axis}' should be a whole number 1-7 or "
                        f"null, got {score!r}")
    return int(score)


class Axis(Dataset):
    name = "axis"
    kind = RATED
    description = "summaries rated 1-7 on overall, accuracy, coverage, coherence"
    record = ("post", "posts")
    schema = "info{id, post or article}, summary{text, policy, axes{overall, accuracy, ...}}"
    hub = (HUB_DATASET, "axis")
    aspects = AXES
    grouped = True
    default_groups = ("7", "4")

    def check(self, config) -> None:
        if config.axis not in AXES:
            raise OptionError("--axis", f"unknown axis {config.axis!r}; expected one of "
                              f"{', '.join(AXES)}")
        if config.groups is not None:
            for group in parse_groups(config.groups):
                if group not in SCORES:
                    raise OptionError("--groups", f"{group!r} is not a score from 1 to 7")
        super().check(config)

    def compare_config(self, config):
        if config.groups is None:
            return replace(config, groups=",".join(self.default_groups))
        return config

    def document_key(self, row, where):
        return document_of(row, where)[0]

    def parse(self, rows, config, shared=None):
        # Without --groups every score is kept (agreement); compare names its groups.
        wanted = set(parse_groups(config.groups)) if config.groups is not None else set(SCORES)
        skipped: Counter = Counter()
        summaries, first = [], None
        for where, row in rows:
            doc_id, document, context = document_of(row, where)
            text = field_of(row, "summary.text", where)
            score = axis_score(row, config.axis, where)
            if score is None:
                skipped[f"summary without a score on '{config.axis}'"] += 1
            elif str(score) not in wanted:
                skipped["summary rated outside the groups"] += 1
            else:
                policy = system_name(field_of(row, "summary", where, dict), "policy",
                                     "summary.policy", where)
                ratings = {name: axis_score(row, name, where) for name in AXES}
                ratings = {name: value for name, value in ratings.items() if value is not None}
                summaries.append(Summary(str(score), text, policy, ratings))
                # The record is where its first kept summary is.
                first = first or (doc_id, document, where, context)
        if not summaries:
            return None, skipped
        doc_id, document, where, context = first
        return ProbeItem(doc_id, document, tuple(summaries), where, context=context), skipped


DATASET = Axis()
