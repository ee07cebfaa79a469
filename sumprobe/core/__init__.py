"""The pure core: masking rules, statistics and the reward mapping (no torch, no files)."""
