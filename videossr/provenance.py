"""Versions and environment facts recorded in every manifest, so an output can be traced."""

from __future__ import annotations

import platform
import sys
from datetime import UTC, datetime
from importlib import metadata

_PACKAGES = ("videossr", "numpy", "av", "opencv-python-headless", "pyarrow", "pillow", "torch", "transformers", "verl")


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Installed versions of the packages that shape our outputs (absent ones are omitted)."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES + extra:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    av = sys.modules.get("av")
    if av is not None:
        versions["ffmpeg (PyAV)"] = getattr(av, "ffmpeg_version_info", "unknown")
    return versions


def utc_now() -> str:
    """Current time as an ISO-8601 UTC string with second precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()
