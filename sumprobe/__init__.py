"""sumprobe: information-theoretic probes of language models."""

__version__ = "0.3.0"
