"""Typed stubs for ``pi5trading._core``, the Rust extension.

Keep in step with ``rust_core/src/python/``; ``make lint`` runs ``mypy.stubtest``.
"""

from typing import TypedDict, type_check_only

__all__ = ["__version__", "build_info"]

__version__: str

@type_check_only
class BuildInfo(TypedDict):
    version: str
    target_arch: str
    target_os: str
    profile: str

def build_info() -> BuildInfo:
    """Version, target architecture (e.g. ``aarch64``), OS and build profile."""
