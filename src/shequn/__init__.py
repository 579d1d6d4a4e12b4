"""shequn: the engine and dashboard for community commerce."""

__version__ = "0.1.0"
