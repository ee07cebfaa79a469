"""Reinforcement-learning pieces for sumprobe (PPO math for language-model fine-tuning)."""
