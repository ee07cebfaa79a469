"""A run folder while a trainer works in it: checked first, then recorded, logged, saved.

`Run.prepare` does the checks that must come before any work (the folder is this command's or
new; on resume the data are the ones the run read); nothing is written until `start`, so a run
refused over bad input or a model that will not load leaves nothing behind (a failed rm-train
used to leave its settings file). `start` writes run.json and opens the log; `save` writes a
checkpoint whole with the run's settings in it and keeps the newest `save_total_limit`;
`stopped` builds the error of a run stopped by a NaN, naming the last good checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from sumprobe.errors import TrainingError
from sumprobe.trainers.checkpoints import (
    folder_size,
    human_size,
    keep_newest,
    last_good_words,
    save_whole,
)
from sumprobe.trainers.folder import RunKind, check_run_folder
from sumprobe.trainers.log import RunLog
from sumprobe.trainers.record import check_same_data, write_run_json
from sumprobe.trainers.resume import ResumePoint


class Run:
    """One trainer's run folder (see the module docstring); `main`: this process writes."""

    def __init__(self, kind: RunKind, run_dir: str | Path, resume: ResumePoint | None,
                 data: dict[str, str], main: bool = True,
                 say: Callable[[str], None] = lambda message: None):
        self.kind, self.run_dir = kind, Path(run_dir)
        self.resume, self.data, self.main, self.say = resume, data, main, say
        self.last_good: Path | None = resume.checkpoint if resume else None
        self.log: RunLog | None = None

    @classmethod
    def prepare(cls, kind: RunKind, run_dir: str | Path, *, resume: ResumePoint | None,
                data: dict[str, str], main: bool = True, kinds: Sequence[RunKind] = (),
                inputs: Mapping[str, Sequence[str]] | None = None, say=lambda m: None) -> Run:
        """The checks before any work (see the module docstring); writes nothing."""
        check_run_folder(kind, resume.run_dir if resume else run_dir,
                         resume=resume is not None, kinds=kinds, inputs=inputs)
        if resume is not None:
            check_same_data(resume.run_dir, data, "--resume")
        return cls(kind, resume.run_dir if resume else run_dir, resume, data, main, say)

    @property
    def done(self) -> int:
        return self.resume.done if self.resume else 0

    def start(self, settings: dict, resolved: dict, samples: bool = True) -> None:
        """Make the folder, write run.json (a resume adds its own header to the first's) and
        open the log, keeping its lines up to the resumed step."""
        if not self.main:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_run_json(self.kind, self.run_dir, settings,
                       self.resume.checkpoint if self.resume else None, resolved, self.data)
        self.log = RunLog(self.run_dir, self.done, samples)

    def write_settings(self, folder: Path, settings: dict) -> None:
        from sumprobe.files import write_json

        write_json(folder / self.kind.config_file, settings)

    def save(self, step: int, write: Callable[[Path], None], settings: dict, keep: int,
             wait: Callable[[], None] = lambda: None, width: int = 6) -> Path:
        """Checkpoint `checkpoint-<step>` written whole by `write(folder)` (called on every
        process) with the run's settings beside it; all but the newest `keep` removed."""
        name = f"checkpoint-{step:0{width}d}"

        def build(folder: Path) -> None:
            write(folder)
            if self.main:
                self.write_settings(folder, settings)

        saved = save_whole(self.run_dir, name, build, last_good=self.last_good, main=self.main)
        if self.main:
            keep_newest(self.run_dir, keep)
            self.say(f"checkpoint: {saved} ({human_size(folder_size(saved))}; keeping {keep})")
        wait()
        self.last_good = saved
        return saved

    def stopped(self, what: str) -> TrainingError:
        """The error of a run stopped by a NaN or infinite value (`what` happened): nothing
        was saved after it, so the last good checkpoint is the one to resume from."""
        return TrainingError(f"{what}; {last_good_words(self.last_good)}")
