"""Registered ops. Importing this package registers all of them."""
from archprof.ops import basic, conv  # noqa: F401
