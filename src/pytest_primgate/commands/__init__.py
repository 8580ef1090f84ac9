"""Subcommands of the ``primgate`` console script, one module each."""
