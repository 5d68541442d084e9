"""Subcommands of the ``autorl`` CLI: each module has ``register(subparsers)``.

``register`` adds one parser and sets ``run=function(args) -> int`` as its default.
"""
