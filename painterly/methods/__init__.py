"""Stylization methods; importing this package registers the built-in ones."""

from painterly.methods import arbitrary, feedforward, optimize_runner  # noqa: F401  (register "adain", "fast", "optimize")
