"""Stylization methods: ``optimize`` (Gatys et al.), ``fast`` (a trained feed-forward network) and
``adain`` (any painting through a trained decoder), each with its spec; :mod:`painterly.registry`
lists them and builds their stylizers."""
