"""Shared types and helpers used by every domain."""
