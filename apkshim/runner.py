"""Running package managers: argv lists, no shell, no stdin, a timeout, no prompts."""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import IO, Optional

log = logging.getLogger(__name__)

# Seconds a killed process group gets between SIGTERM and SIGKILL.
_TERMINATE_GRACE = 5.0


@dataclasses.dataclass
class Completed:
    """The outcome of one command run."""

    argv: list[str]
    returncode: Optional[int]
    """Exit status; None when the run timed out and was killed."""
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    def tail(self, lines: int = 8) -> list[str]:
        """Return the last lines of the error output, or of stdout when stderr is empty."""
        text = self.stderr if self.stderr.strip() else self.stdout
        return [line for line in text.splitlines() if line.strip()][-lines:]


def run(
    argv: Sequence[str],
    timeout: float,
    environment: Optional[Mapping[str, str]] = None,
    cwd: Optional[str] = None,
) -> Completed:
    """Run ``argv`` with stdin closed and output captured, in ``cwd`` if given.

    After ``timeout`` seconds the whole process group is killed, so a package
    manager's children (dpkg, maintainer scripts, debconf) go with it.
    """
    env = dict(os.environ)
    env.update(environment or {})
    log.info("running %s", shlex.join(argv))
    started = time.monotonic()
    # Output goes to files, not pipes: a descendant that keeps a pipe open (a
    # daemon started by a maintainer script) would make reading it wait for
    # ever, while the leader's exit status is already known.
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
                start_new_session=True,
                cwd=cwd,
            )
        except OSError as error:
            message = f"cannot run {argv[0]}: {error}"
            return Completed(list(argv), 127, "", message, 0.0)

        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
        except BaseException:
            # KeyboardInterrupt (a notebook's "interrupt kernel") must not leave
            # the package manager running in its own session.
            _kill_group(process)
            raise
        seconds = time.monotonic() - started
        stdout = _read_tail(out)
        stderr = _read_tail(err)

    log.debug("%s exited with %s after %.1f s", argv[0], process.returncode, seconds)
    if stdout:
        log.debug("stdout:\n%s", _shorten(stdout))
    if stderr:
        log.debug("stderr:\n%s", _shorten(stderr))
    returncode = None if timed_out else process.returncode
    return Completed(list(argv), returncode, stdout, stderr, seconds, timed_out)


# Bytes of each output stream kept; a flood beyond this keeps only its end.
MAX_OUTPUT = 16 * 1024 * 1024


def _read_tail(handle: IO[bytes]) -> str:
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - MAX_OUTPUT))
    data = handle.read()
    if size > MAX_OUTPUT:
        # Start at a whole line.
        data = data[data.find(b"\n") + 1 :]
    return data.decode("utf-8", errors="replace")


# Lines of a command's output logged at DEBUG; queries such as "apt-cache
# pkgnames" print thousands.
_MAX_LOGGED_LINES = 40


def _shorten(text: str) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) <= _MAX_LOGGED_LINES:
        return "\n".join(lines)
    kept = lines[: _MAX_LOGGED_LINES // 2] + lines[-_MAX_LOGGED_LINES // 2 :]
    kept.insert(_MAX_LOGGED_LINES // 2, f"... ({len(lines) - len(kept)} lines left out)")
    return "\n".join(kept)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Send SIGTERM to the process group, then SIGKILL when the leader has exited.

    The leader gets ``_TERMINATE_GRACE`` seconds. SIGKILL goes to the group even
    when the leader exited on SIGTERM, because a child that ignores SIGTERM would
    live on and keep installing after the run was reported as killed. The
    group outlives its leader while any member runs, so its id still reaches them.
    """
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=_TERMINATE_GRACE)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait()


def find_executable(name: str) -> Optional[str]:
    """Return the path of ``name`` on PATH or in the system directories."""
    import shutil

    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/usr/bin:/sbin:/bin"
    return shutil.which(name, path=path)


_elevation_cache: dict[str, Optional[list[str]]] = {}


def elevation(executable: str, euid: Optional[int] = None) -> Optional[list[str]]:
    """Return the prefix that runs ``executable`` as root without a prompt.

    That is ``[]`` for root itself, else ``sudo -n`` or ``doas -n`` when a trial
    run of ``executable --version`` through them works without a password, else
    None. ``-n`` makes sudo and doas fail instead of asking for a password.
    ``euid`` defaults to this process's effective user id.
    """
    if (os.geteuid() if euid is None else euid) == 0:
        return []
    if executable in _elevation_cache:
        return _elevation_cache[executable]
    prefix: Optional[list[str]] = None
    for tool in ("sudo", "doas"):
        tool_path = find_executable(tool)
        if tool_path is None:
            continue
        trial = run([tool_path, "-n", executable, "--version"], timeout=30)
        if trial.ok:
            prefix = [tool_path, "-n"]
            break
        log.debug("%s -n %s is not allowed: %s", tool, executable, trial.tail(2))
    _elevation_cache[executable] = prefix
    return prefix
