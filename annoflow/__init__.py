"""annoflow core: request spec models, settings, record schemas and the CLI entry point.

Nothing in this package does I/O beyond reading configuration.
"""
__version__ = "0.1.0"
