"""`summarize`: the policies a summarizer is measured against, written out as `systems` data
(one JSON line per document and system) for `compare` and `rank` to judge.

Documents come from any data set (a comparisons file's posts, SummEval's articles, a systems
file's documents, plain `documents`), each once, in the order they first appear; `limit` keeps
the first ones. Model-backed policies write through the engine's batched generation, each
summary kept in the scoring cache as it is written: Ctrl-C loses at most a batch, and the same
command again writes only what is missing.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from sumprobe.datasets import DataConfig
from sumprobe.engine.config import ModelConfig, Sampling
from sumprobe.errors import DataError, OptionError
from sumprobe.experiments import session
from sumprobe.progress import Talk


@dataclass(frozen=True)
class SummarizeSpec:
    """The documents, the policies, the model of the model-backed ones and how it writes, and
    the systems file to write."""

    data: DataConfig
    policies: tuple[str, ...]
    output: str
    model: ModelConfig = ModelConfig("gpt2")
    sampling: Sampling = Sampling()
    shots: int = 3  # few-shot: examples before the query
    limit: int | None = None  # documents (the first ones); None or 0: all


@dataclass
class SystemRow:
    """What one system wrote: how many summaries, their mean length, what it could not write."""

    system: str
    policy: str
    written: int
    mean_words: float
    skipped: Counter = field(default_factory=Counter)


@dataclass
class SummarizeResult:
    documents: int
    systems: list[SystemRow]
    rows: list[dict]  # the systems file's lines, in order
    notes: list[str] = field(default_factory=list)
    signature: str = ""
    header: dict = field(default_factory=dict)


def _documents(spec: SummarizeSpec, talk: Talk):
    from sumprobe.datasets import read_records
    from sumprobe.policies import documents_of

    dataset = spec.data.spec
    loaded = read_records(dataclasses.replace(spec.data, limit=None, drop_shortest=0))
    documents = documents_of(loaded.items, dataset)
    if spec.limit and len(documents) > spec.limit:
        documents = documents[: spec.limit]
    if not documents:
        raise DataError("no document to summarize: "
                        + ("; ".join(f"{n} {why}" for why, n in loaded.skipped.items())
                           or "the data holds none"))
    for why, n in loaded.skipped.items():
        talk.say(f"skipped {n}: {why}")
    return documents


def summarize(spec: SummarizeSpec, talk: Talk = Talk(), *, protect: Sequence[str] = (),
              engines: dict | None = None) -> SummarizeResult:
    """Write every policy's summary of every document; the systems file's lines come back in
    `rows` (`sumprobe.results.save_summaries` writes them)."""
    from sumprobe import policies

    if not spec.policies:
        raise OptionError("--policy", "name at least one policy")
    if len(set(spec.policies)) < len(spec.policies):
        raise OptionError("--policy", "a policy is named twice")
    try:
        chosen = [policies.get(name) for name in spec.policies]
    except ValueError as error:
        raise OptionError("--policy", str(error)) from None
    if spec.data.spec.kind == "prompts" and spec.data.dataset != "documents":
        raise OptionError("--dataset", f"{spec.data.dataset} holds openings to continue, not "
                          "documents to summarize")
    session.check_settings([], spec.data, spec.model, session.Outputs(results=spec.output),
                           protect)
    documents = _documents(spec, talk)
    engines = {} if engines is None else engines  # zero- and few-shot share one model
    settings = policies.Settings(spec.sampling, spec.shots, spec.sampling.seed)
    rows: dict[str, list[str | None]] = {}
    systems, notes, engines_used = [], [], []
    for policy in chosen:
        engine = None
        if policy.needs_model:
            model = spec.model if not isinstance(policy, policies.prompted.Trained) else \
                dataclasses.replace(spec.model, model=policy.path)
            engine = _engine(model, talk, engines)
            engines_used += [engine] if engine not in engines_used else []
        what = f"{policy.name}: {len(documents):,} documents"
        before = dict(engine.work) if engine is not None else {}
        with session.scoring(engine, talk, what, "prompts") as progress:
            written = policy.write(documents, engine, settings, progress)
        notes += written.notes
        for system, summaries in written.summaries.items():
            if system in rows:
                raise OptionError("--policy", f"two policies write a system named {system!r}")
            rows[system] = summaries
            texts = [s for s in summaries if s is not None]
            skipped = Counter(written.skipped) if len(written.summaries) == 1 else Counter(
                {"the data has no summary of this policy for the document":
                 summaries.count(None)} if None in summaries else {})
            systems.append(SystemRow(system, policy.name, len(texts),
                                     sum(len(t.split()) for t in texts) / len(texts)
                                     if texts else float("nan"), skipped))
        if engine is not None:  # this policy's share of the engine's work (others share it)
            done = {k: engine.work.get(k, 0) - before.get(k, 0)
                    for k in ("units_run", "tokens_run", "units_cached", "tokens_written")}
            talk.say(f"{policy.name}: {done['units_run']:,} prompts run "
                     f"({done['tokens_run']:,} prompt tokens), {done['units_cached']:,} read "
                     f"from the cache; {done['tokens_written']:,} tokens written")
    lines = [_line(doc, system, summaries[i]) for i, doc in enumerate(documents)
             for system, summaries in rows.items() if summaries[i] is not None]
    signed = _signature(spec, engines_used)
    header = session.header(engines_used[0] if engines_used else None, signed, spec.data,
                            spec.model, spec.sampling)
    header["config"]["policies"] = list(spec.policies)
    return SummarizeResult(len(documents), systems, lines, notes, signed, header)


def _engine(model: ModelConfig, talk: Talk, engines: dict | None):
    from sumprobe.engine import build_engine, preflight
    from sumprobe.engine.capabilities import NEEDS_LOGPROBS

    family = preflight(model.model, model.model_type, {NEEDS_LOGPROBS})  # a causal LM
    key = (model, family)
    if engines is not None and key in engines:
        return engines[key]
    talk.say(f"loading {model.model} …")
    engine = build_engine(model, family)
    if engines is not None:
        engines[key] = engine
    return engine


def _line(doc, system: str, summary: str) -> dict:
    line = {"id": doc.doc_id, "document": doc.text, "summary": summary, "system": system}
    if doc.reference:
        line["reference"] = doc.reference
    for name in ("title", "subreddit"):
        if doc.context.get(name):
            line[name] = doc.context[name]
    return line


def _signature(spec: SummarizeSpec, engines) -> str:
    from sumprobe.results import data_digests, source_version

    files = ",".join(f"{name.rsplit('/', 1)[-1]}#{digest}" for name, digest in
                     data_digests(spec.data.data, spec.data.dataset, spec.data.split).items())
    models = "+".join(e.name + (f"@{e.revision[:10]}" if e.revision else "") for e in engines)
    s = spec.sampling
    return "|".join([f"policies:{'+'.join(spec.policies)}", f"model:{models or 'none'}",
                     f"data:{files}", f"max-new:{s.max_new_tokens}",
                     f"temperature:{s.temperature:g}", f"top-p:{s.top_p:g}",
                     f"shots:{spec.shots}", f"seed:{s.seed}", f"sumprobe:{source_version()}"])
