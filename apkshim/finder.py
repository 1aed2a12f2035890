"""The meta-path finder that installs a missing mapped module on import.

The finder is defined in the top-level module ``_apkshim_hook``, which the
start-up hook imports without importing this package; see its docstring.
"""

from _apkshim_hook import (
    MappedFinder,
    importer_scope,
    install,
    installed_finder,
    uninstall,
)

__all__ = ["MappedFinder", "importer_scope", "install", "installed_finder", "uninstall"]
