"""Stylization methods; importing this package registers the built-in ones."""

from painterly.methods import optimize_runner  # noqa: F401  (registers "optimize")
