"""mia: learn which attention heads of a transformer link the tokens of two texts."""

__version__ = "0.1.0"
