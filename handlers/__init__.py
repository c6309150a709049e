"""Feature handlers: one module per feature, each exposing a ``router``."""
