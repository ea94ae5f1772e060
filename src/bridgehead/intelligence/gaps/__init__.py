"""Execution-gap detectors, the signals they raise, and the gap inbox."""
