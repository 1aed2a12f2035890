"""Start-up hook, run by ``apkshim.pth`` and by the top-level ``sitecustomize.py``.

It reads ``APKSHIM`` and, when enabled, appends the finder to ``sys.meta_path``.
Importing it a second time does nothing, because the module body runs once per
process. It must stay cheap: nothing here may import a TOML parser, ``packaging``,
``subprocess`` or ``logging``.
"""

import os
import sys

from apkshim import _switch


def _activate() -> None:
    value = os.environ.get("APKSHIM", "")
    enabled = _switch.parse(value)
    if enabled is None:
        sys.stderr.write(
            f"apkshim: APKSHIM={value!r} is not a valid switch, so the import hook "
            "stays off; use 1, true, yes or on to enable it, or 0 to disable it\n"
        )
        return
    if enabled:
        from apkshim import finder

        finder.install()


try:
    _activate()
except Exception as error:  # noqa: BLE001 - start-up must survive any fault here
    sys.stderr.write(f"apkshim: import hook disabled: {error}\n")
