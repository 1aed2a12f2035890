"""One install at a time, across threads and processes."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import time
from collections.abc import Iterator

from apkshim.errors import InstallError

log = logging.getLogger(__name__)

LOCK_NAME = "apkshim-install.lock"


@contextlib.contextmanager
def exclusive(directory: str, timeout: float) -> Iterator[bool]:
    """Hold the install lock; yield whether another holder was waited for.

    The lock is ``flock`` on a file in ``directory``. Each call opens its own file
    description, so threads of one process exclude each other too. The file is
    opened read-only, which is enough for ``flock`` and lets users share a lock
    file that another user created.
    """
    path = os.path.join(directory, LOCK_NAME)
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        try:
            descriptor = os.open(path, flags)
        except FileNotFoundError:
            # Only a missing file is created: with fs.protected_regular, Linux
            # refuses O_CREAT on another user's file in a sticky directory (/tmp).
            descriptor = os.open(path, flags | os.O_CREAT, 0o644)
            # Readable by all whatever the umask, so other users can lock it too.
            os.fchmod(descriptor, 0o644)
    except OSError as error:
        raise InstallError(
            f"cannot open the install lock {path}: {error.strerror}; set "
            "APKSHIM_LOCK_DIR to a directory this user can write"
        ) from None
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise InstallError(
            f"the install lock {path} is not a regular file; remove it, or set "
            "APKSHIM_LOCK_DIR to a directory that only trusted users can write"
        )
    waited = False
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    log.info("waiting for another apkshim install (lock %s)", path)
                waited = True
                if time.monotonic() > deadline:
                    raise InstallError(
                        f"another apkshim install held {path} for more than "
                        f"{timeout:g} s; wait for it to finish, then import again in a new "
                        "process (in a notebook, restart the kernel)"
                    ) from None
                time.sleep(0.05)
        yield waited
    finally:
        os.close(descriptor)
