"""`summeval`: SummEval (Fabbri et al. 2021), CNN/DM articles with 16 systems' summaries, each
scored 1-5 by experts on coherence, consistency, fluency and relevance (one summary a line, local
files only). A record is an article with its summaries; a summary's system is its `summary_id`.
"""

from __future__ import annotations

from collections import Counter

from sumprobe.datasets.base import RATED, Dataset
from sumprobe.datasets.reading import field_of
from sumprobe.datasets.records import ProbeItem, Summary
from sumprobe.errors import DataError

ASPECTS = ("coherence", "consistency", "fluency", "relevance")


class SummEval(Dataset):
    name = "summeval"
    kind = RATED
    description = "SummEval: CNN/DM articles, 16 systems, expert scores 1-5 (local files)"
    record = ("article", "articles")
    schema = "article_id, summary_id, article, summary and the four scores"
    aspects = ASPECTS
    grouped = True

    def document_key(self, row, where):
        return str(field_of(row, "article_id", where, (str, int)))

    def parse(self, rows, config, shared=None):
        summaries = []
        for where, row in rows:
            self.document_key(row, where)
            ratings = {}
            for aspect in ASPECTS:
                value = field_of(row, aspect, where, (int, float))
                if isinstance(value, bool) or not 1 <= value <= 5:
                    raise DataError(f"{where}: field '{aspect}' should be a score from 1 to 5")
                ratings[aspect] = float(value)
            system = str(field_of(row, "summary_id", where, (str, int)))
            summaries.append(Summary("summary", field_of(row, "summary", where), system,
                                     ratings))
            field_of(row, "article", where)
        where, row = rows[0]
        return ProbeItem(self.document_key(row, where), row["article"], tuple(summaries), where,
                         context={"kind": "article"}), Counter()


DATASET = SummEval()
