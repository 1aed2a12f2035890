"""Subcommands of the ``apkshim`` program, one module each.

Each module defines ``register(subparsers)``, which adds its parser and sets
``handler`` (a function taking the parsed arguments and returning the exit status).
"""

COMMANDS = ("doctor", "install", "mapping", "plan", "scan")
