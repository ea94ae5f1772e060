"""Bridgehead: close the gap between B2B sales strategy and what happens in live deals."""

__version__ = "0.1.0"
