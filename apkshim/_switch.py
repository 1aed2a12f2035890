"""Parsing of on/off environment values, shared by start-up and the settings."""

from typing import Optional

_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"", "0", "false", "no", "off"})


def parse(value: str) -> Optional[bool]:
    """Return True or False for a valid switch value, None for anything else."""
    folded = value.strip().lower()
    if folded in _ON:
        return True
    if folded in _OFF:
        return False
    return None
