"""apkshim's start-up hook and import finder, in one module imported at start-up.

``apkshim.pth`` imports this module when ``APKSHIM`` is set and calls
``activate``, which appends the finder to ``sys.meta_path`` when the value
enables it. Importing the module alone changes nothing. It lives
outside the ``apkshim`` package and imports nothing but builtins, because every
module imported here adds to every interpreter start-up. The package re-exports
it as ``apkshim.finder``. The real work lives in ``apkshim.autoinstall`` and is
imported on the first miss of a mapped name made by user code.

The finder sits at the end of ``sys.meta_path``, so it only sees names that every
other finder missed. Until the mapping is parsed, it answers from a cheap token
scan of the mapping files: a superset of the mapped names, enough to return None
at once for the usual miss (guarded imports, optional dependencies).
"""

import _imp
import _thread
import os
import sys

# Importing typing at start-up would cost every interpreter; type checkers treat
# any name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from importlib.machinery import ModuleSpec
    from types import FrameType, ModuleType

_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"", "0", "false", "no", "off"})


def parse_switch(value: str) -> "bool | None":
    """Return True or False for a valid on/off value, None for anything else."""
    folded = value.strip().lower()
    if folded in _ON:
        return True
    if folded in _OFF:
        return False
    return None


def shipped_mapping() -> str:
    """Return the path of the mapping shipped with apkshim."""
    package = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apkshim")
    wheel_copy = os.path.join(package, "mapping.toml")
    if os.path.exists(wheel_copy):
        return wheel_copy
    # A source checkout keeps the file at the top level, beside this module.
    return os.path.join(os.path.dirname(package), "mapping.toml")


def mapping_layers(environ: "Mapping[str, str]") -> "list[str]":
    """Return the mapping layers in the order they are applied, later ones winning."""
    config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(
        os.path.expanduser("~"), ".config"
    )
    extra = [path for path in environ.get("APKSHIM_MAPPING", "").split(os.pathsep) if path]
    return [
        shipped_mapping(),
        "/etc/apkshim/mapping.toml",
        os.path.join(config_home, "apkshim", "mapping.toml"),
        *extra,
    ]


_TOKEN_CHARACTERS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_."
)
_MAX_DECLINED = 100


def _scan_tokens(paths: "Iterable[str]") -> "frozenset[str]":
    """Return every dotted word in the files, with its dotted prefixes."""
    table = {code: " " for code in range(128) if chr(code) not in _TOKEN_CHARACTERS}
    tokens = set()
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            continue
        for word in text.translate(table).split():
            while word:
                tokens.add(word)
                word = word.rpartition(".")[0]
    return frozenset(tokens)


_library_cache: "tuple[tuple[str, ...], tuple[str, ...]]" = ((), ())


def _library_directories() -> "tuple[str, ...]":
    """Return the standard-library and site directories, whose code is not user code.

    The result is cached until ``sys.path`` changes, because computing it takes
    about a third as long as a whole import miss, and unmapped misses need it too.
    """
    global _library_cache
    key = tuple(sys.path)
    if _library_cache[0] == key and key:
        return _library_cache[1]
    directories = {os.path.dirname(os.__file__)}
    for entry in sys.path:
        if os.path.basename(entry) in ("site-packages", "dist-packages"):
            directories.add(entry)
    site = sys.modules.get("site")
    if site is not None:
        try:
            directories.update(site.getsitepackages())
            directories.add(site.getusersitepackages())
        except AttributeError:  # an old virtualenv's site module lacks them
            pass
    found = tuple(os.path.join(directory, "") for directory in directories)
    _library_cache = (key, found)
    return found


def _site_is_running() -> bool:
    """Return True while the ``site`` module body runs, that is during start-up."""
    site = sys.modules.get("site")
    # importlib sets this flag on a module's spec while it executes the module.
    return bool(getattr(getattr(site, "__spec__", None), "_initializing", False))


def distro_key(name: str) -> str:
    """Return ``name`` as the index of the distro's modules stores it.

    Debian names the package of module ``Foo_Bar`` ``python3-foo-bar``, so the
    index folds case and ``_``. The exact name is checked when a name is resolved.
    """
    return name.lower().replace("_", "-")


def _metadata_is_off(environ: "Mapping[str, str]") -> bool:
    """Return whether ``APKSHIM_METADATA`` turns the distro-metadata route off."""
    value = environ.get("APKSHIM_METADATA", "").strip()
    # Unset, empty and invalid values leave the default, on, as the settings do.
    return bool(value) and parse_switch(value) is False


def _load_distro_names() -> "frozenset[str]":
    """Build the index of the distro's modules; empty when apkshim is missing."""
    try:
        from apkshim import distrometa
    except ImportError:
        return frozenset()
    return distrometa.finder_names()


_HOOK_FILE = os.path.abspath(__file__)
_PACKAGE_DIRECTORY = os.path.join(os.path.dirname(_HOOK_FILE), "apkshim", "")
_IMPORTLIB_DIRECTORY = os.path.join(os.path.dirname(os.__file__), "importlib", "")


def importer_scope(frame: "FrameType | None") -> "tuple[bool, str]":
    """Return ``(is_user_code, reason)`` for the import running below ``frame``.

    The importer is the first frame outside the import machinery and apkshim.
    User code is ``__main__`` (a script, ``python -c``, the REPL, an IPython cell
    or ``%run``) and any file outside the standard-library and site directories.
    ``importlib.util.find_spec`` and ``pkgutil`` calls are probes: they only ask
    whether a module exists, so they never install.
    """
    while frame is not None:
        code = frame.f_code
        filename = code.co_filename
        if code.co_name == "find_spec" and (
            # importlib.util is frozen from Python 3.11 on.
            filename == "<frozen importlib.util>"
            or (
                filename.startswith(_IMPORTLIB_DIRECTORY)
                and filename.endswith("util.py")
            )
        ):
            return False, "a probe (importlib.util.find_spec)"
        if filename.startswith(("<frozen", _IMPORTLIB_DIRECTORY)):
            frame = frame.f_back
            continue
        if filename.startswith(_PACKAGE_DIRECTORY) or filename == _HOOK_FILE:
            frame = frame.f_back
            continue
        break
    if frame is None:
        return False, "no importing frame"
    filename = frame.f_code.co_filename
    if frame.f_globals.get("__name__") == "__main__":
        return True, "imported by __main__"
    if filename.startswith("<"):
        return False, f"imported by generated code {filename}"
    if filename.endswith("pkgutil.py"):
        return False, "a probe (pkgutil)"
    if filename.startswith(_library_directories()):
        return False, f"imported by library code {filename}"
    return True, f"imported by user code {filename}"


class MappedFinder:
    """Installs the distro package of a mapped module that no other finder found."""

    _apkshim_finder = True

    def __init__(self) -> None:
        self._local = _thread._local()
        self._names: "frozenset[str] | None" = None
        self._distro_names: "frozenset[str] | None" = None
        """Unmapped names the distro's metadata lists, folded by ``distro_key``.

        None until the first unmapped top-level miss made by user code builds it.
        """
        self.declined: "dict[str, str]" = {}
        """Why the last misses worth a look installed nothing, by module name."""

    def set_names(self, names: "Iterable[str]") -> None:
        """Replace the token superset by the exact set of names worth a look."""
        self._names = frozenset(names)

    def find_spec(
        self,
        fullname: str,
        path: "Sequence[str] | None" = None,
        target: "ModuleType | None" = None,
    ) -> "ModuleSpec | None":
        names = self._names
        if names is None:
            # Misses while site runs come from start-up code (.pth lines, sitecustomize,
            # a missing usercustomize), never from user code, so they never install.
            # Returning here keeps the mapping files unread during start-up.
            if _site_is_running():
                return None
            names = self._names = _scan_tokens(mapping_layers(os.environ))
            if _metadata_is_off(os.environ):
                self._distro_names = frozenset()
        if fullname not in names:
            # An unmapped name goes on only when it is top-level and, once the
            # index of the distro's modules exists, listed there. The key is
            # distro_key's, inlined because every unmapped miss computes it.
            distro_names = self._distro_names
            if distro_names is None:
                if "." in fullname:
                    return None
            elif fullname.lower().replace("_", "-") not in distro_names:
                return None
        # The re-entry check comes second: reading a thread-local costs more than
        # the set lookup that turns away almost every miss.
        if getattr(self._local, "busy", False):
            return None

        if os.environ.get("APKSHIM_SCOPE", "").strip().lower() != "all":
            is_user_code, reason = importer_scope(sys._getframe(1))
            if not is_user_code:
                self._decline(fullname, reason)
                return None

        self._local.busy = True
        # importlib holds its global import lock while it calls finders, and any
        # import in another thread waits for it. An install can take minutes.
        released = _release_import_lock()
        try:
            if self._distro_names is None and fullname not in names:
                self._distro_names = _load_distro_names()
                if distro_key(fullname) not in self._distro_names:
                    return None
            try:
                from apkshim import autoinstall
            except ImportError as error:
                # A half-removed apkshim: this module is left, the package is gone.
                self._decline(fullname, f"apkshim cannot be imported: {error}")
                return None
            return autoinstall.find_spec(self, fullname, path)
        finally:
            if released:
                _imp.acquire_lock()
            self._local.busy = False

    def _decline(self, fullname: str, reason: str) -> None:
        if len(self.declined) >= _MAX_DECLINED:
            self.declined.pop(next(iter(self.declined)))
        self.declined[fullname] = reason

    def invalidate_caches(self) -> None:
        """Keep the names: ``importlib.invalidate_caches()`` calls this after installs."""


def _release_import_lock() -> bool:
    """Release the import lock if this thread holds it, and return whether it did."""
    try:
        _imp.release_lock()
    except RuntimeError:  # not held, as when find_spec is called directly
        return False
    return True


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
    """Enable the hook as ``APKSHIM`` says; run by ``apkshim.pth`` at start-up.

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
