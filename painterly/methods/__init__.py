"""Stylization methods; importing this package registers the built-in ones."""

from painterly.methods import feedforward, optimize_runner  # noqa: F401  (register "fast" and "optimize")
