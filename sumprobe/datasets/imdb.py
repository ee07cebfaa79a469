"""`imdb`: movie reviews (Maas et al. 2011), the prompts of controlled generation: JSON Lines
with a `text` field (`label` and the rest are not read), or the Hub's `imdb`."""

from __future__ import annotations

from sumprobe.datasets.base import PROMPTS, Dataset
from sumprobe.datasets.reading import hub_rows, read_json_lines
from sumprobe.datasets.records import encodable
from sumprobe.errors import DataError


class Imdb(Dataset):
    name = "imdb"
    kind = PROMPTS
    description = "IMDB movie reviews: openings to continue (ctrl-train)"
    record = ("review", "reviews")
    schema = "text (label and other fields are not read)"
    hub = ("imdb", None)

    def texts(self, data: str | None, split: str = "train") -> list[str]:
        """Review texts from JSON Lines (a file or folder) or from the Hub's imdb."""
        if not data:
            return list(hub_rows(self.hub, split)["text"])
        texts = []
        for where, row in read_json_lines([data]):
            text = row.get("text")
            if not isinstance(text, str):
                raise DataError(f"{where}: missing field 'text' (or it is not a string)")
            if not encodable(text):  # no tokenizer takes it: named here, not a traceback later
                raise DataError(f"{where}: field 'text' holds an invalid character (a lone "
                                "surrogate, e.g. \\ud83d): fix or remove that review")
            texts.append(text)
        return texts


DATASET = Imdb()
