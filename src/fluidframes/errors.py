"""One exception family for everything a user can get wrong or the run can hit.

Every error carries a user-facing one-line message. The CLI maps ``InputError`` (and
subclasses) to exit code 2 and anything else in the family to exit code 1.
"""

from __future__ import annotations


class FluidFramesError(Exception):
    """Base of all fluidframes errors; ``str(err)`` is a one-line message for the user."""

    exit_code = 1


class InputError(FluidFramesError, ValueError):
    """Bad input from the user: arguments, files, images, options."""

    exit_code = 2


class ModelError(FluidFramesError):
    """A model could not be found, detected, fetched or loaded."""

    exit_code = 2


class WeightsError(ModelError):
    """Fetching or verifying weights failed (network, hash mismatch, missing member)."""


class MediaError(FluidFramesError):
    """Decoding, encoding or muxing failed."""


class MediaInputError(MediaError, InputError):
    """The input media is unusable (not a video, unreadable, zero frames, ...)."""

    exit_code = 2


class DamagedInputError(MediaInputError):
    """The input is truncated or damaged: less can be decoded than the file declares. The run
    refuses it unless partial output is allowed (``allow_partial``/``--allow-partial``)."""


class CancelledError(FluidFramesError):
    """The run was stopped by the user (Ctrl-C, a cancel request)."""

    exit_code = 130
