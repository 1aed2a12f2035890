"""apkshim: a missing ``import`` installs the distribution's prebuilt package.

The start-up hook imports this package, so it imports nothing at module level;
the installer loads on first use of ``install``.
"""

__version__ = "0.1.0"
__all__ = ["__version__", "disable", "enable", "install"]


def enable() -> None:
    """Append apkshim's finder to ``sys.meta_path``, as ``APKSHIM=1`` does at start-up."""
    from apkshim import finder

    finder.install()


def disable() -> None:
    """Remove apkshim's finder from ``sys.meta_path``; safe to call twice."""
    from apkshim import finder

    finder.uninstall()


def __getattr__(name: str) -> "object":
    if name == "install":
        from apkshim.installer import install

        return install
    raise AttributeError(f"module 'apkshim' has no attribute {name!r}")
