"""Courrier's web shell and chat framework (no business rules live here)."""

__version__ = "0.1.0"
