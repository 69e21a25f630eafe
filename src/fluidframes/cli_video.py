"""Video subcommands of the CLI (interpolate, demo); filled in with the video pipeline."""

from __future__ import annotations


def add_video_commands(sub, add_model_options) -> None:  # noqa: ARG001 - placeholder until pipeline
    return None
