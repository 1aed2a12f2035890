"""apkshim's start-up hook, for images that copy this file onto ``sys.path``.

Installing apkshim with pip already adds ``apkshim.pth``, which does the same job
and also works where a distribution ships its own ``sitecustomize`` (Debian,
Ubuntu). Use this file only where ``.pth`` files are not processed.

Python imports only the first ``sitecustomize`` on ``sys.path``, so this file runs
the next one after its own directory, if there is one, instead of hiding it.
"""


def _enable_apkshim() -> None:
    import os
    import sys

    if not os.environ.get("APKSHIM"):
        return
    try:
        import _apkshim_hook
    except ModuleNotFoundError as error:
        if error.name != "_apkshim_hook":
            sys.stderr.write(f"apkshim: import hook disabled: {error}\n")
    except Exception as error:  # noqa: BLE001 - start-up must survive any fault
        sys.stderr.write(f"apkshim: import hook disabled: {error}\n")
    else:
        _apkshim_hook.activate()


def _run_shadowed_sitecustomize() -> None:
    import os
    import sys
    from importlib.machinery import PathFinder

    here = os.path.dirname(os.path.abspath(__file__))
    entries = [os.path.abspath(entry or os.curdir) for entry in sys.path]
    if here not in entries:
        return
    later = entries[entries.index(here) + 1 :]
    spec = PathFinder.find_spec("sitecustomize", [p for p in later if p != here])
    if spec is None or spec.loader is None:
        return
    module = type(sys)("sitecustomize")
    module.__file__ = spec.origin
    module.__spec__ = spec
    module.__loader__ = spec.loader
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # noqa: BLE001 - site itself only warns here
        sys.stderr.write(f"apkshim: error in shadowed sitecustomize {spec.origin}: {error}\n")


_enable_apkshim()
_run_shadowed_sitecustomize()
APKSHIM_SITECUSTOMIZE = True
