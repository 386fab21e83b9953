"""docctl: document control and Part 11 electronic signatures for GxP work."""

__version__ = "0.1.0"
