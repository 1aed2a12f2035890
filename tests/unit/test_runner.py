"""Running commands: privilege choice (never a prompt), stdin closed, the timeout."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from apkshim import runner

from unit_support import FakeBin, emit

# A sudo or doas that asks for a password: it reads one from stdin, or from the
# terminal, and gives up when there is neither, as the real ones do with -n.
ASKS_FOR_A_PASSWORD = """\
if [ "$1" != "-n" ]; then
  printf 'Password: ' > /dev/tty && read -r password < /dev/tty && exit 0
  read -r password && exit 0
fi
echo "$(basename "$0"): a password is required" >&2
exit 1
"""
# A sudo or doas configured with NOPASSWD / nopass: it runs the command.
ALLOWS = 'shift\nexec "$@"\n'


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(runner, "_elevation_cache", {})
    yield


@pytest.fixture
def apk(fake_bin: FakeBin) -> str:
    return str(
        fake_bin.add(
            "apk", emit(stdout="apk-tools 2.14.10, compiled for x86_64.\n")
        ).path
    )


def test_root_runs_directly(fake_bin: FakeBin, apk: str) -> None:
    sudo = fake_bin.add("sudo", ALLOWS)
    assert runner.elevation(apk, euid=0) == []
    assert sudo.calls() == []


def test_this_process_is_root_or_not() -> None:
    assert (runner.elevation("/bin/true") == []) is (os.geteuid() == 0)


def test_passwordless_sudo(fake_bin: FakeBin, apk: str) -> None:
    sudo = fake_bin.add("sudo", ALLOWS)
    doas = fake_bin.add("doas", ALLOWS)
    assert runner.elevation(apk, euid=1000) == [str(sudo.path), "-n"]
    assert sudo.calls() == [["-n", apk, "--version"]]
    assert doas.calls() == []


def test_doas_when_sudo_wants_a_password(fake_bin: FakeBin, apk: str) -> None:
    sudo = fake_bin.add("sudo", ASKS_FOR_A_PASSWORD)
    doas = fake_bin.add("doas", ALLOWS)
    assert runner.elevation(apk, euid=1000) == [str(doas.path), "-n"]
    assert sudo.calls() == [["-n", apk, "--version"]]
    assert doas.calls() == [["-n", apk, "--version"]]


def test_neither_works(fake_bin: FakeBin, apk: str) -> None:
    sudo = fake_bin.add("sudo", ASKS_FOR_A_PASSWORD)
    doas = fake_bin.add("doas", ASKS_FOR_A_PASSWORD)
    started = time.monotonic()
    assert runner.elevation(apk, euid=1000) is None
    assert time.monotonic() - started < 10
    assert len(sudo.calls()) == len(doas.calls()) == 1


def test_sudo_that_prompts_anyway_cannot_block(fake_bin: FakeBin, apk: str) -> None:
    # Even a sudo that ignores -n finds no terminal and no input to wait for.
    prompting = (
        'printf "Password: " > /dev/tty && read -r p < /dev/tty && exit 0\n'
        "read -r p && exit 0\n"
        "exit 1\n"
    )
    sudo = fake_bin.add("sudo", prompting)
    doas = fake_bin.add("doas", prompting)
    started = time.monotonic()
    assert runner.elevation(apk, euid=1000) is None
    assert time.monotonic() - started < 10
    for tool in (sudo, doas):
        (details,) = tool.details()
        assert details["stdin"] == "/dev/null"
        assert details["tty"] == "no"


def test_trial_run_failing_through_sudo_is_not_elevation(fake_bin: FakeBin) -> None:
    broken = str(fake_bin.add("apk", emit(stderr="apk: broken\n", status=1)).path)
    fake_bin.add("sudo", ALLOWS)
    fake_bin.add("doas", ALLOWS)
    assert runner.elevation(broken, euid=1000) is None


def test_choice_is_cached_per_executable(fake_bin: FakeBin, apk: str) -> None:
    sudo = fake_bin.add("sudo", ALLOWS)
    first = runner.elevation(apk, euid=1000)
    assert runner.elevation(apk, euid=1000) == first
    assert len(sudo.calls()) == 1


# run()


def test_run_captures_output_and_status(fake_bin: FakeBin) -> None:
    tool = fake_bin.add("tool", emit(stdout="out\n", stderr="err1\nerr2\n", status=3))
    completed = runner.run([str(tool.path), "a b", "--", "-x"], timeout=30)
    assert completed.returncode == 3
    assert not completed.ok
    assert completed.stdout == "out\n"
    assert completed.tail() == ["err1", "err2"]
    assert completed.command == f"{tool.path} 'a b' -- -x"
    assert tool.calls() == [["a b", "--", "-x"]]
    assert tool.details()[0]["stdin"] == "/dev/null"


def test_run_passes_extra_environment(
    fake_bin: FakeBin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEBIAN_FRONTEND", raising=False)
    tool = fake_bin.add("tool")
    runner.run(
        [str(tool.path)], timeout=30, environment={"DEBIAN_FRONTEND": "noninteractive"}
    )
    assert tool.details()[0]["frontend"] == "noninteractive"
    assert "DEBIAN_FRONTEND" not in os.environ


def test_run_of_a_missing_executable(tmp_path: Path) -> None:
    completed = runner.run([str(tmp_path / "nothing")], timeout=30)
    assert completed.returncode == 127
    assert completed.stderr.startswith(f"cannot run {tmp_path / 'nothing'}")


def test_timeout_kills_the_whole_process_group(
    fake_bin: FakeBin, tmp_path: Path
) -> None:
    pid_file = tmp_path / "child.pid"
    tool = fake_bin.add(
        "hang", f"sleep 60 &\necho $! > {pid_file}\necho started\nwait\n"
    )
    started = time.monotonic()
    completed = runner.run([str(tool.path)], timeout=1)
    assert time.monotonic() - started < 10
    assert completed.timed_out
    assert completed.returncode is None
    assert not completed.ok
    assert completed.stdout == "started\n"
    child = int(pid_file.read_text())
    for _ in range(100):
        if not alive(child):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the package manager's child survived the timeout")


def alive(pid: int) -> bool:
    """Return whether ``pid`` runs; a zombie waiting for its reaper does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_run_returns_when_leader_exits() -> None:
    # A background child keeps stdout open for 15 s after the leader exits 0;
    # waiting for it would run into the 8 s timeout.
    script = "sleep 15 & echo done"
    completed = runner.run(["sh", "-c", script], timeout=8)
    assert completed.ok
    assert completed.stdout == "done\n"


def test_run_keeps_tail_of_flood(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "MAX_OUTPUT", 1000)
    completed = runner.run(["sh", "-c", "seq 1 100000"], timeout=20)
    assert completed.ok
    assert len(completed.stdout) <= 1000
    assert completed.stdout.endswith("100000\n")
    assert completed.stdout.startswith(tuple("0123456789"))
