"""The install lock: one install at a time across threads and processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from apkshim import locking
from apkshim.errors import InstallError

from unit_support import ROOT, clean_environment


def test_uncontended_lock_does_not_wait(tmp_path: Path) -> None:
    with locking.exclusive(str(tmp_path), timeout=5) as waited:
        assert waited is False
        assert (tmp_path / locking.LOCK_NAME).exists()
    # Released: it can be taken again at once.
    with locking.exclusive(str(tmp_path), timeout=0) as waited:
        assert waited is False


def test_second_thread_waits_for_the_first(tmp_path: Path) -> None:
    held = threading.Event()
    release = threading.Event()
    order: list[str] = []
    results: dict[str, bool] = {}

    def first() -> None:
        with locking.exclusive(str(tmp_path), timeout=10) as waited:
            results["first"] = waited
            order.append("first in")
            held.set()
            release.wait(10)
            order.append("first out")

    def second() -> None:
        held.wait(10)
        with locking.exclusive(str(tmp_path), timeout=10) as waited:
            results["second"] = waited
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    held.wait(10)
    time.sleep(0.3)  # the second thread is now polling the lock
    assert "second in" not in order
    release.set()
    for thread in threads:
        thread.join(10)
    assert order == ["first in", "first out", "second in"]
    assert results == {"first": False, "second": True}


def test_timeout_names_the_lock_path(tmp_path: Path) -> None:
    path = tmp_path / locking.LOCK_NAME
    with locking.exclusive(str(tmp_path), timeout=5):
        started = time.monotonic()
        with pytest.raises(InstallError) as raised:
            with locking.exclusive(str(tmp_path), timeout=0.3):
                pytest.fail("took a lock that another holder has")
        assert 0.3 <= time.monotonic() - started < 5
    message = str(raised.value)
    assert str(path) in message
    assert "more than 0.3 s" in message


def test_lock_held_by_another_process(tmp_path: Path) -> None:
    release = tmp_path / "release"
    code = (
        "import os, time\n"
        "from apkshim import locking\n"
        f"with locking.exclusive({str(tmp_path)!r}, timeout=5):\n"
        "    print('held', flush=True)\n"
        "    for _ in range(500):\n"
        f"        if os.path.exists({str(release)!r}):\n"
        "            break\n"
        "        time.sleep(0.02)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env=clean_environment({"PYTHONPATH": str(ROOT)}),
        cwd=str(ROOT),
    )
    # The holder lets go only after this process has started waiting.
    timer = threading.Timer(0.3, release.touch)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        timer.start()
        with locking.exclusive(str(tmp_path), timeout=10) as waited:
            assert waited is True
    finally:
        timer.cancel()
        release.touch()
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert holder.returncode == 0


def test_unusable_lock_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory"
    with pytest.raises(InstallError) as raised:
        with locking.exclusive(str(missing), timeout=1):
            pass
    assert str(missing / locking.LOCK_NAME) in str(raised.value)
    assert "APKSHIM_LOCK_DIR" in str(raised.value)


def test_lock_file_is_not_followed_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    (tmp_path / locking.LOCK_NAME).symlink_to(target)
    with pytest.raises(InstallError):
        with locking.exclusive(str(tmp_path), timeout=1):
            pass
    assert not target.exists()


def test_lock_fifo_fails_fast(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / locking.LOCK_NAME)
    with pytest.raises(InstallError, match="not a regular file"):
        with locking.exclusive(str(tmp_path), timeout=1):
            pass


def test_lock_file_shared_under_strict_umask(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        with locking.exclusive(str(tmp_path), timeout=1):
            pass
    finally:
        os.umask(previous)
    mode = (tmp_path / locking.LOCK_NAME).stat().st_mode & 0o777
    assert mode == 0o644
