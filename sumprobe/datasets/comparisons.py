"""`comparisons`: a labeler's choice between two summaries of a post or article (OpenAI's
summarize-from-feedback, one JSON object a line; the Hub's `comparisons` configuration).

A record is one comparison: the chosen summary (group "chosen") and the rejected one, with the
labeler's confidence (the distance of `extra.confidence`, 1-9, from 5). Records are indexed:
the whole set (about 179k) is read a block at a time.
"""

from __future__ import annotations

from collections import Counter

from sumprobe.datasets.base import PAIRWISE, Dataset
from sumprobe.datasets.feedback import HUB_DATASET, document_of, shared_document
from sumprobe.datasets.reading import field_of, system_name
from sumprobe.datasets.records import ProbeItem, Summary
from sumprobe.errors import DataError, OptionError


def parse_comparison(row: dict, where: str, shared: dict | None = None) -> ProbeItem:
    """A comparisons row: the labeler's chosen summary and the rejected one."""
    doc_id, document, context = document_of(row, where)
    document, context = shared_document(shared, doc_id, document, context)
    summaries = field_of(row, "summaries", where, list)
    if len(summaries) != 2:
        raise DataError(f"{where}: field 'summaries' should hold 2 summaries, got "
                        f"{len(summaries)}")
    for index, summary in enumerate(summaries):
        if not isinstance(summary, dict) or not isinstance(summary.get("text"), str):
            raise DataError(f"{where}: missing field 'summaries[{index}].text'")
    choice = field_of(row, "choice", where, int)
    if isinstance(choice, bool) or choice not in (0, 1):
        raise DataError(f"{where}: field 'choice' should be 0 or 1, got {choice}")
    # `extra.confidence` is a 1-9 preference scale: 1-4 favour summary 0, 6-9 summary 1, the
    # further from 5 the surer. Its distance from 5 is the labeler's confidence.
    extra = row.get("extra")
    scale = extra.get("confidence") if isinstance(extra, dict) else None
    confidence = abs(scale - 5) if type(scale) is int and 1 <= scale <= 9 else None

    def summary(group: str, index: int) -> Summary:
        return Summary(group, summaries[index]["text"],
                       system_name(summaries[index], "policy", f"summaries[{index}].policy",
                                   where))

    return ProbeItem(doc_id, document, (summary("chosen", choice),
                                        summary("rejected", 1 - choice)),
                     where, confidence or None, context)


class Comparisons(Dataset):
    name = "comparisons"
    kind = PAIRWISE
    description = "a labeler's choice between two summaries (summarize_from_feedback)"
    record = ("comparison", "comparisons")
    schema = ("info{id, post or article, title, subreddit}, summaries[2]{text, policy}, "
              "choice, extra{confidence}")
    hub = (HUB_DATASET, "comparisons")
    indexable = True
    default_groups = ("chosen", "rejected")

    def check(self, config) -> None:
        if config.groups is not None:
            raise OptionError("--groups", "comparisons have fixed groups (chosen, rejected); "
                              "--groups is for data with several groups (axis, systems)")
        super().check(config)

    def reference(self, records):
        """The post's human TL;DR, where a comparison holds it (policy `ref`)."""
        return next((s.text for r in records for s in r.summaries if s.policy == "ref"), None)

    def good_summary(self, records):
        """The reference, else the summary the labeler of the first comparison chose."""
        return self.reference(records) or next(
            (s.text for s in records[0].summaries if s.group == "chosen"), None)

    def parse(self, rows, config, shared=None):
        [(where, row)] = rows
        return parse_comparison(row, where, shared), Counter()


DATASET = Comparisons()
