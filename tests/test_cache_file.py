"""The cache as a file others may touch (issue 23): a planted pickle never runs, a damaged file
gets one true sentence from every command and `cache clear` removes it, a read-only folder is
called read-only, and `cache clear` refuses while a run has the cache open."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import pickle
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from sumprobe.cli import cli
from sumprobe.engine import cache_file
from sumprobe.engine.cache import CacheError, ScoreCache, code_version, unit_key
from sumprobe.engine.cache_admin import UNNAMED, cache_info, clear_cache
from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parent.parent
DATA = FIXTURES / "comparisons.jsonl"


def _compare(model, cache, *extra):
    return CliRunner().invoke(cli, ["compare", "--model", str(model), "--dataset",
                                    "comparisons", "--data", str(DATA), "--drop-shortest", "0",
                                    "--bootstrap", "200", "--cache", str(cache), *extra])


def _settled(cache: Path) -> None:
    """Every handle of earlier in-process commands closed and the log folded into the file,
    so that the file's bytes are the whole cache."""
    gc.collect()
    with sqlite3.connect(cache) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _cache(path: Path, units: int = 3) -> Path:
    cache = ScoreCache(path).bind({"model": "m"}, "m")
    cache.put_many((unit_key("k", (i,)), [i, i / 3]) for i in range(units))
    cache.close()
    return path


class _Payload:
    """A results row as an attacker would plant it: unpickling it runs a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("old_format", [True, False])
def test_a_planted_pickle_in_the_results_never_runs(tmp_path, tiny_bert_dir, old_format):
    cache, marker = tmp_path / "c.sqlite", tmp_path / "ran"
    first = tmp_path / "first.json"
    assert _compare(tiny_bert_dir, cache, "--output", str(first)).exit_code == 0
    _settled(cache)
    with sqlite3.connect(cache) as db:
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 2  # block, report
        # every row a pickle, under the keys and version this sumprobe reads
        db.execute("UPDATE results SET value = ?, code = ?",
                   (pickle.dumps(_Payload(marker)), code_version()))
        if old_format:  # a cache as sumprobe wrote it before the codec
            db.execute("PRAGMA user_version = 0")
    runner = CliRunner()
    info = runner.invoke(cli, ["cache", "info", "--cache", str(cache)])
    assert info.exit_code == 0 and not marker.exists(), info.output
    again = tmp_path / "again.json"
    result = _compare(tiny_bert_dir, cache, "--output", str(again))
    assert result.exit_code == 0 and not marker.exists(), result.output
    assert json.loads(again.read_text())["groups"] == json.loads(first.read_text())["groups"]
    said = result.output.replace(str(tmp_path), "")
    assert "damaged" not in said and "pickle" not in said  # nothing alarming
    with sqlite3.connect(cache) as db:  # what it kept instead: the codec's values
        values = [bytes(v) for (v,) in db.execute("SELECT value FROM results")]
    assert values and all(v.startswith(b"sumprobe-codec") for v in values)
    cleared = runner.invoke(cli, ["cache", "clear", "--yes", "--cache", str(cache)])
    assert cleared.exit_code == 0 and not marker.exists()


def _damage(path: Path) -> None:
    """Every page but the first (the schema) overwritten: SQLite opens the file, then finds
    each table malformed."""
    data = bytearray(path.read_bytes())
    page = 4096
    data[page:] = b"\xa5" * (len(data) - page)
    path.write_bytes(bytes(data))


def test_a_damaged_cache_gets_one_true_sentence_and_clear_removes_it(tmp_path, tiny_bert_dir):
    cache = tmp_path / "c.sqlite"
    assert _compare(tiny_bert_dir, cache).exit_code == 0
    _settled(cache)
    _damage(cache)
    runner = CliRunner()
    for result in (_compare(tiny_bert_dir, cache),
                   runner.invoke(cli, ["cache", "info", "--cache", str(cache)])):
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
        assert f"cache {cache} is damaged (database disk image is malformed)" in \
            " ".join(result.output.split())
        assert f"sumprobe cache clear --cache {cache}` offers to remove it" in result.output
    asked = runner.invoke(cli, ["cache", "clear", "--cache", str(cache)], input="n\n")
    assert asked.exit_code == 1 and cache.exists()  # declined: kept
    assert "not a readable sumprobe cache" in asked.output
    cleared = runner.invoke(cli, ["cache", "clear", "--yes", "--cache", str(cache)])
    assert cleared.exit_code == 0, cleared.output
    assert "deleted c.sqlite" in cleared.output and not cache.exists()
    assert _compare(tiny_bert_dir, cache).exit_code == 0  # a fresh cache in its place


def test_a_file_that_is_not_sqlite_is_said_to_be_so_and_clear_offers_to_delete_it(tmp_path):
    bad = tmp_path / "c.sqlite"
    bad.write_text("x" * 5000)
    runner = CliRunner()
    info = runner.invoke(cli, ["cache", "info", "--cache", str(bad)])
    assert info.exit_code == 1 and "is not a SQLite database" in info.output
    with pytest.raises(CacheError, match="pass --no-cache"):  # what a run is told
        ScoreCache(bad)
    cleared = runner.invoke(cli, ["cache", "clear", "--cache", str(bad)], input="y\n")
    assert cleared.exit_code == 0 and not bad.exists(), cleared.output


def test_another_programs_database_is_refused_and_left_alone(tmp_path):
    other = tmp_path / "notes.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    before = other.read_bytes()
    with pytest.raises(CacheError, match="SQLite database of something else .tables notes."):
        ScoreCache(other)
    cleared = CliRunner().invoke(cli, ["cache", "clear", "--yes", "--cache", str(other)])
    assert cleared.exit_code == 1 and "left as it is" in cleared.output
    assert other.read_bytes() == before


def test_damaged_rows_are_scored_again_not_a_traceback(tmp_path, tiny_bert_dir):
    cache = tmp_path / "c.sqlite"
    first = tmp_path / "first.json"
    assert _compare(tiny_bert_dir, cache, "--output", str(first)).exit_code == 0
    _settled(cache)
    with sqlite3.connect(cache) as db:
        db.execute("UPDATE units SET value = '[1,'")  # cut short
        db.execute("UPDATE results SET value = x'00112233'")
        db.execute("UPDATE namespaces SET created = 'yesterday'")  # a time that is not one
    again = tmp_path / "again.json"
    result = _compare(tiny_bert_dir, cache, "--output", str(again), "--masks-per-doc", "1")
    assert result.exit_code == 0, result.output
    scoring = json.loads(again.read_text())["config"]["scoring"]
    assert scoring["units_run"] > 0 and scoring.get("units_cached", 0) == 0  # scored again
    assert json.loads(again.read_text())["groups"] == json.loads(first.read_text())["groups"]
    info = CliRunner().invoke(cli, ["cache", "info", "--cache", str(cache)])
    assert info.exit_code == 0 and "unknown" in info.output, info.output


def _without_root_override():
    """Run a child as this user but without the capability that lets root write anywhere, so
    that a read-only folder is read-only to it too."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0):  # PR_CAPBSET_DROP: gone after exec
            raise OSError(ctypes.get_errno(), "prctl")


def _python_in_read_only_folder(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, text=True,
                          capture_output=True, timeout=120,
                          preexec_fn=_without_root_override if os.geteuid() == 0 else None)


@pytest.mark.skipif(sys.platform != "linux", reason="drops a Linux capability for root")
def test_a_healthy_cache_in_a_read_only_folder_is_read_and_called_read_only(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    cache = _cache(folder / "c.sqlite", units=5)
    folder.chmod(0o555)
    try:
        probe = _python_in_read_only_folder(f"""
            import os
            print(os.access({str(folder)!r}, os.W_OK))""")
        if probe.returncode or probe.stdout.strip() != "False":
            pytest.skip(f"cannot make a folder read-only here: {probe.stderr[-300:]}")
        done = _python_in_read_only_folder(f"""
            from click.testing import CliRunner
            from sumprobe.cli import cli
            from sumprobe.engine.cache import ScoreCache, CacheError
            for args in (["info"], ["clear", "--yes"]):
                result = CliRunner().invoke(cli, ["cache", *args, "--cache", {str(cache)!r}])
                print(args[0], result.exit_code, " ".join(result.output.split()))
            try:
                ScoreCache({str(cache)!r})
            except CacheError as error:
                print("run", error)""")
    finally:
        folder.chmod(0o755)
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert done.returncode == 0, done.stderr
    assert lines["info"].startswith("0 Scoring cache") and "│ m │ 5 │" in lines["info"]
    assert "damaged" not in done.stdout
    assert lines["run"] == (f"cannot write the cache in {folder} (read-only): pass --cache "
                            "PATH elsewhere or --no-cache")
    assert lines["clear"] == f"1 Error: cannot write the cache in {folder} (read-only)"
    assert cache_info(cache)[1][0].units == 5  # untouched


def _holder(cache: Path) -> subprocess.Popen:
    """Another process with the cache open, as a run has it, until told to stop."""
    code = f"""
        import sys
        from sumprobe.engine.cache import ScoreCache
        cache = ScoreCache({str(cache)!r}).bind({{"model": "m"}}, "m")
        print("open", flush=True)
        sys.stdin.readline()
        """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "open"
    return process


@pytest.mark.skipif(cache_file.fcntl is None, reason="no advisory locks on this platform")
def test_clear_is_refused_while_a_run_has_the_cache_open(tmp_path):
    cache = _cache(tmp_path / "c.sqlite", units=4)
    run = _holder(cache)
    try:
        for extra in ([], ["--stale"], ["--model", "m"]):
            result = CliRunner().invoke(cli, ["cache", "clear", "--yes", "--cache", str(cache),
                                              *extra])
            assert result.exit_code == 1, result.output
            assert "is in use: a running sumprobe command has it open" in \
                " ".join(result.output.split())
        assert cache_info(cache)[1][0].units == 4  # nothing removed
        own = ScoreCache(cache)  # this process's own handle does not block its clear...
        with pytest.raises(cache_file.CacheInUse):  # ...but the other process's does
            clear_cache(cache)
        own.close()
    finally:
        run.communicate("\n", timeout=30)
    assert clear_cache(cache) == 4  # the run has ended
    assert cache_info(cache)[1] == []


@pytest.mark.skipif(cache_file.fcntl is None, reason="no advisory locks on this platform")
def test_a_run_waits_for_a_clear_and_then_says_why_it_cannot_open(tmp_path, monkeypatch):
    import fcntl

    cache = _cache(tmp_path / "c.sqlite")
    monkeypatch.setattr(cache_file, "WAIT_FOR_CLEAR", 0.5)
    with open(cache_file.sidecar(cache), "a") as lock:  # a clear in another process
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(CacheError, match="is being cleared"):
            ScoreCache(cache)
    ScoreCache(cache).close()  # free again


def test_inputs_a_run_wrote_after_its_setting_was_cleared_are_counted(tmp_path):
    cache = _cache(tmp_path / "c.sqlite", units=6)
    with sqlite3.connect(cache) as db:  # what a clear under a run left, before the lock
        db.execute("DELETE FROM namespaces")
    [space] = cache_info(cache)[1]
    assert space.label == UNNAMED and space.units == 6
    info = CliRunner().invoke(cli, ["cache", "info", "--cache", str(cache)])
    assert "empty" not in info.output and "6" in info.output
    assert clear_cache(cache) == 6 and cache_info(cache)[1] == []
