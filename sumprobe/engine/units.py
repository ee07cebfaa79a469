"""How an engine gets a list of units scored: each distinct unit once, cached ones read back,
the rest run longest first in batches, split between processes, and cached as each batch ends.

A unit is a hashable tuple (a model input and what is asked of it); its answer is plain data
(lists, ints, floats) so that it can live in the cache and travel between processes. The
batches are cut once from the length-sorted list and dealt round-robin to the processes, so
with any number of processes every batch holds the same inputs as with one: the answers are
the same bits, and the run's results equal a one-process run's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Sequence

from sumprobe.engine import parallel
from sumprobe.engine.cache import unit_key


def run_units(engine, kind: str, units: Sequence[Hashable], run: Callable[[Sequence], list],
              length: Callable[[Hashable], int],
              on_progress: Callable[[int], None] | None = None) -> list:
    """The answer to every unit, in the order given (see the module's docstring).

    engine: a `sumprobe.engine.base.Engine` (its `batch_size`, `work`, `cache`); with `shard`
    False it scores everything in this process even under torchrun (a caller that runs on
    rank 0 alone, as rm-train's evaluation does, must not wait for the others).
    kind: names what is asked of the units, part of their cache key.
    """
    from sumprobe.engine.device import run_backing_off  # torch: only once there is work

    world = parallel.current() if engine.shard else parallel.World()
    cache = engine.cache
    unique = list(dict.fromkeys(units))
    answers: dict = {}
    if cache is not None:
        if world.main:
            keys = {unit: unit_key(kind, unit) for unit in unique}
            hits = cache.get_many(list(keys.values()))
            answers = {unit: hits[key] for unit, key in keys.items() if key in hits}
        answers = world.broadcast(answers)  # everyone skips the same units
    work: Counter = engine.work
    work["units_cached"] += len(answers)
    if answers and on_progress is not None:
        on_progress(len(answers))

    todo = sorted((u for u in unique if u not in answers), key=length, reverse=True)
    size = engine.batch_size
    batches = [todo[i : i + size] for i in range(0, len(todo), size)]
    for first in range(0, len(batches), world.size):
        mine = batches[first + world.rank] if first + world.rank < len(batches) else []
        done = list(zip(mine, run_backing_off(engine, mine, run))) if mine else []
        if world.size > 1:
            done = [pair for part in world.gather(done) for pair in part]
        work["units_run"] += len(done)
        work["tokens_run"] += sum(length(unit) for unit, _ in done)
        if cache is not None and world.main:
            cache.put_many((unit_key(kind, unit), answer) for unit, answer in done)
        answers.update(done)
        if on_progress is not None:
            on_progress(len(done))
    return [answers[unit] for unit in units]
