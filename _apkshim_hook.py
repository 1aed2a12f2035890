"""apkshim's start-up hook: the fast path of its import finder, nothing more.

``apkshim.pth`` imports this module when ``APKSHIM`` is set and calls
``activate``, which appends ``MappedFinder`` to the end of ``sys.meta_path`` when
the value enables it. Importing the module alone changes nothing.

Every line here costs each start-up with the hook on, so the module lives
outside the ``apkshim`` package and imports only builtins. The finder turns away
the usual miss with one set lookup. Its first miss after start-up imports
``apkshim.finder`` to read the mapping's names, and a miss worth a look goes to
``apkshim.finder.serve``.
"""

import _thread
import os
import sys

# Importing typing at start-up would cost every interpreter; type checkers treat
# any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"", "0", "false", "no", "off"})
_MAX_DECLINED = 100


def parse_switch(value: str) -> "bool | None":
    """Return True or False for a valid on/off value, None for anything else."""
    folded = value.strip().lower()
    if folded in _ON:
        return True
    if folded in _OFF:
        return False
    return None


def _site_is_running() -> bool:
    """Return True while the ``site`` module body runs, that is during start-up."""
    site = sys.modules.get("site")
    # importlib sets this flag on a module's spec while it executes the module.
    return bool(getattr(getattr(site, "__spec__", None), "_initializing", False))


class MappedFinder:
    """Installs the distro package of a mapped module that no other finder found."""

    _apkshim_finder = True

    def __init__(self) -> None:
        self._local = _thread._local()
        self.names: "frozenset[str] | None" = None
        """Names worth a look; None until the first miss after start-up."""
        self.distro_names: "frozenset[str] | None" = None
        """Unmapped names the distro's metadata lists, folded by ``distro_key``.

        None until the first unmapped top-level miss made by user code builds it.
        """
        self.declined: "dict[str, str]" = {}
        """Why the last misses worth a look installed nothing, by module name."""

    def set_names(self, names: "Iterable[str]") -> None:
        """Replace the names worth a look, such as the token superset by exact ones."""
        self.names = frozenset(names)

    def set_distro_names(self, names: "Iterable[str]") -> None:
        self.distro_names = frozenset(names)

    def find_spec(
        self,
        fullname: str,
        path: "Sequence[str] | None" = None,
        target: "ModuleType | None" = None,
    ) -> "ModuleSpec | None":
        names = self.names
        if names is None:
            # Misses while site runs come from start-up code (.pth lines,
            # sitecustomize, a missing usercustomize), never from user code.
            # Returning here keeps the mapping files unread during start-up.
            if _site_is_running() or getattr(self._local, "busy", False):
                return None
            names = self._load_names(fullname)
        if fullname not in names:
            # An unmapped name goes on only when it is top-level and, once the
            # index of the distro's modules exists, listed there. The key is
            # apkshim.finder.distro_key's, inlined because every miss computes it.
            distro_names = self.distro_names
            if distro_names is None:
                if "." in fullname:
                    return None
            elif fullname.lower().replace("_", "-") not in distro_names:
                return None
        # The re-entry check comes after the set lookup, which turns away almost
        # every miss and costs less than reading a thread-local.
        if getattr(self._local, "busy", False):
            return None

        self._local.busy = True
        try:
            from apkshim import finder

            serve = finder.serve
        except AttributeError:
            # apkshim.finder is being imported right now (by apkshim.enable(),
            # say) and one of its own imports missed: not a miss to serve.
            self._local.busy = False
            return None
        try:
            return serve(self, fullname, path, sys._getframe(1))
        finally:
            self._local.busy = False

    def _load_names(self, fullname: str) -> "frozenset[str]":
        self._local.busy = True
        try:
            from apkshim import finder

            finder.prepare(self)
        except ImportError as error:
            # A half-removed apkshim: this module is left, the package is gone.
            self.set_names(())
            self.set_distro_names(())
            self.decline(fullname, f"apkshim cannot be imported: {error}")
        except AttributeError:
            # apkshim.finder is being imported right now and one of its own
            # imports missed; the names stay unread until the next miss.
            return frozenset()
        finally:
            self._local.busy = False
        return self.names or frozenset()

    def decline(self, fullname: str, reason: str) -> None:
        """Record why a miss worth a look installed nothing (see ``declined``)."""
        if len(self.declined) >= _MAX_DECLINED:
            self.declined.pop(next(iter(self.declined)))
        self.declined[fullname] = reason

    def invalidate_caches(self) -> None:
        """Keep the names: ``importlib.invalidate_caches()`` calls this after installs."""


def installed_finder() -> "MappedFinder | None":
    """Return apkshim's finder on sys.meta_path, or None."""
    for finder in sys.meta_path:
        if getattr(finder, "_apkshim_finder", False):
            return finder  # type: ignore[return-value]
    return None


def install() -> "MappedFinder":
    """Append the finder to ``sys.meta_path`` unless one is there; return it."""
    finder = installed_finder()
    if finder is None:
        finder = MappedFinder()
        sys.meta_path.append(finder)
    return finder


def uninstall() -> None:
    """Remove every apkshim finder from ``sys.meta_path``; safe to call twice."""
    sys.meta_path[:] = [
        finder for finder in sys.meta_path if not getattr(finder, "_apkshim_finder", False)
    ]


_activated = False


def activate() -> None:
    """Enable the hook when ``APKSHIM`` is on; ``apkshim.pth`` calls it at start-up.

    Only the first call in a process acts, because a venv's ``.pth`` files run
    twice and ``sitecustomize`` may call it too. It never raises: a fault turns
    the hook off with one warning line instead of stopping the interpreter.
    """
    global _activated
    if _activated:
        return
    _activated = True
    value = os.environ.get("APKSHIM", "")
    try:
        enabled = parse_switch(value)
        if enabled is None:
            sys.stderr.write(
                f"apkshim: APKSHIM={value!r} is not a valid switch, so the import "
                "hook stays off; use 1, true, yes or on to enable it, or 0 to "
                "disable it\n"
            )
        elif enabled:
            install()
    except Exception as error:  # noqa: BLE001 - start-up must survive any fault here
        sys.stderr.write(f"apkshim: import hook disabled: {error}\n")
