"""Where the mapping layers live. Imported at start-up, so it uses only ``os``."""

import os


def shipped_mapping() -> str:
    """Return the path of the mapping shipped with apkshim."""
    package = os.path.dirname(os.path.abspath(__file__))
    wheel_copy = os.path.join(package, "mapping.toml")
    if os.path.exists(wheel_copy):
        return wheel_copy
    # A source checkout keeps the file at the top level, beside pyproject.toml.
    return os.path.join(os.path.dirname(package), "mapping.toml")


def mapping_layers(environ: "os._Environ[str] | dict[str, str]") -> list[str]:
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
