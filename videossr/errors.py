"""Exception types shared by the whole package.

Library code raises these; scripts decide what to do with them (skip a video and record why,
or stop with a one-line message). Nothing in the package calls ``sys.exit``.
"""

from __future__ import annotations


class VideoSSRError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(VideoSSRError, ValueError):
    """A setting or command-line value is invalid; the message says what to pass instead."""


class VideoError(VideoSSRError):
    """One video cannot be used; ``reason`` is a short human-readable explanation.

    Raised at the boundary where a file is opened or decoded. Pipelines catch it per video, record
    ``reason`` in their failure log and carry on with the next video.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
