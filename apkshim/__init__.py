"""apkshim: a missing ``import`` installs the distribution's prebuilt package.

The start-up hook imports this package, so it imports nothing at module level;
the installer loads on first use of ``install``.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "disable", "enable", "install", "load_ipython_extension"]


def enable() -> None:
    """Append apkshim's finder to ``sys.meta_path``, as ``APKSHIM=1`` does at start-up."""
    from apkshim import finder

    finder.install()


def disable() -> None:
    """Remove apkshim's finder from ``sys.meta_path``; safe to call twice."""
    from apkshim import finder

    finder.uninstall()


def load_ipython_extension(ipython: "object") -> None:
    """Enable the hook and register ``%apkshim`` in IPython (``%load_ext apkshim``)."""
    from apkshim.ipython import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: "object") -> None:
    """Remove the hook's finder when IPython unloads the extension."""
    from apkshim.ipython import unload_ipython_extension as unload

    unload(ipython)


def __getattr__(name: str) -> "object":
    if name == "install":
        from apkshim.installer import install

        return install
    raise AttributeError(f"module 'apkshim' has no attribute {name!r}")
