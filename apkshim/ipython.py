"""The IPython extension: ``%load_ext apkshim`` and the ``%apkshim`` magic.

Loading the extension appends the import hook's finder to ``sys.meta_path``, so
a missing mapped import installs its package in this kernel even when
``APKSHIM`` is not set. It also registers the line magic ``%apkshim``, which
takes the command line of the ``apkshim`` program: ``%apkshim install numpy``,
``%apkshim plan -r requirements.txt``, ``%apkshim scan analysis.ipynb``.
Whatever it installs is importable in the kernel right away.
"""

from __future__ import annotations

import logging
import shlex
import sys
from typing import Any

import apkshim
from apkshim.errors import ApkshimError

log = logging.getLogger(__name__)

MAGIC_NAME = "apkshim"


def load_ipython_extension(ipython: Any) -> None:
    """Enable the import hook and register ``%apkshim``; IPython calls this."""
    apkshim.enable()
    ipython.register_magic_function(
        apkshim_magic, magic_kind="line", magic_name=MAGIC_NAME
    )
    log.debug("apkshim's finder is on sys.meta_path and %%%s is registered", MAGIC_NAME)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the import hook's finder; ``%apkshim`` stays until the kernel restarts."""
    apkshim.disable()


def apkshim_magic(line: str) -> None:
    """Run ``apkshim`` with the arguments of the magic line.

    It returns nothing, so the cell shows no exit status. Invalid arguments and
    ``--help`` print argparse's message instead of ending the kernel, and errors
    print one line on stderr, as the program does.
    """
    from apkshim import cli

    try:
        argv = shlex.split(line)
    except ValueError as error:
        print(f"apkshim: error: cannot split {line!r}: {error}", file=sys.stderr)
        return
    parser = cli.build_parser()
    try:
        arguments = parser.parse_args(argv)
    except SystemExit:
        return  # argparse printed the usage, the error or the help
    try:
        arguments.handler(arguments)
    except ApkshimError as error:
        print(f"apkshim: error: {error}", file=sys.stderr)
