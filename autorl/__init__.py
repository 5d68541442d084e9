"""autorl: reinforcement-learning-centric Auto-RL (LEARNA-style RNA design, PPO, BOHB)."""

__version__ = "0.1.0"
