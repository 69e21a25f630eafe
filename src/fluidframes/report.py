"""What a run tells its caller: live progress, the final summary, and the A/V check's maths.

Library code reports through these dataclasses; the shells (CLI, web app) decide how to show
them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from fractions import Fraction


def fmt_rate(r: Fraction | str) -> str:
    """A frame rate as people write it: 60, 59.94, 23.976."""
    r = Fraction(r)
    if r.denominator == 1:
        return str(r.numerator)
    return f"{float(r):.3f}".rstrip("0").rstrip(".")


@dataclass
class Progress:
    """A live progress event: output frames written so far (of ``frames_total`` if known)."""

    frames_out: int
    frames_total: int | None
    elapsed: float
    fps: float  # output frames per second of wall time

    @classmethod
    def at(cls, frames_out: int, frames_total: int | None, elapsed: float) -> Progress:
        return cls(frames_out, frames_total, elapsed, frames_out / elapsed if elapsed > 0 else 0.0)


@dataclass
class RunSummary:
    input: str
    output: str
    model: str
    device: str
    threads: int | None  # torch's CPU threads per model instance (None on GPUs)
    precision: str  # the convolutions' precision that ran: fp32, bf16, fp16
    frames_in: int
    frames_out: int
    interpolated: int  # frames made by the model
    held: int  # output frames that repeat a source frame instead (cuts, tail, exact hits)
    scene_cuts: int
    duplicates_dropped: int
    skipped_packets: int
    source_rate: str
    output_rate: str
    tempo: str
    input_duration: float
    output_duration: float
    expected_duration: float
    seconds: float
    speed_fps: float  # output frames per second of wall time
    audio: dict = field(default_factory=dict)
    av_sync_error: float | None = None  # seconds, measured on the written file
    in_sync: bool | None = None
    subtitles_dropped: list[str] = field(default_factory=list)
    segments: int = 1
    segments_resumed: int = 0
    warnings: list[str] = field(default_factory=list)
    vfr: bool = False  # the input had a variable frame rate (warnings say which rate was used)
    partial: bool = False  # the input was damaged and allow_partial kept what decodes
    part: str | None = None  # --start/--duration: the part of the input, "12.5s-16.5s"
    #: a GIF: palette mode and count, dithering, size, frame rate, frames, file size (bytes)
    gif: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        sync = ""
        if self.in_sync is not None:
            sync = (f", A/V {'in sync' if self.in_sync else 'OUT OF SYNC'} "
                    f"({self.av_sync_error * 1000:+.1f} ms)")
        part = f" (part {self.part})" if self.part else ""
        return (
            f"{self.output}: {self.frames_in} -> {self.frames_out} frames{part}, "
            f"{fmt_rate(self.source_rate)} -> {fmt_rate(self.output_rate)} fps, "
            f"{self.output_duration:.3f} s, {self.interpolated} interpolated, "
            f"{self.scene_cuts} cuts, {self.seconds:.1f} s at {self.speed_fps:.2f} fps{sync}"
            f"{self._gif_text()}"
        )

    def _gif_text(self) -> str:
        g = self.gif
        if not g:
            return ""
        per = {"scene": "per scene", "clip": "for the clip", "frame": "one per frame"}
        return (f", GIF {g['width']}x{g['height']}, {g['palettes']} palette(s) "
                f"({per.get(g['palette'], g['palette'])}), {g['dither']} dither, "
                f"{g['bytes'] / 1e6:.2f} MB")


def sync_error(report, info, tempo: Fraction,
               window: tuple[Fraction, Fraction | None] | None = None) -> float | None:
    """How far (s) the written audio sits from where the source puts it, at output speed.

    ``report`` is what :func:`fluidframes.video.mux.finalize` read back from the written file,
    ``info`` the source's probe. Audio that starts before the video in the source is trimmed to
    the video start (a copy into mkv/webm: to the next whole packet, at most one audio frame
    later; video/mux.py): that is in sync. The end is checked too: the audio must last as long
    as the source's (less what was trimmed), scaled by the tempo (one audio frame of slack for
    codec framing). ``window`` (start after the video's start, length or None) is the part of
    the source a trimmed run covers: the audio must start where the source's audio enters that
    part (or up to one audio frame later, trimmed to a whole packet) and last as long as it
    stays in it.
    """
    if report is None or report.av_offset is None or not info.audio:
        return None
    a0 = info.audio[0]
    t = float(tempo)
    src_offset = float((a0.start if a0.start is not None else info.start) - info.start)
    slack = 1024 / (a0.sample_rate or 48000) / t  # one audio frame (AAC: 1024 samples)
    if window is not None:
        w0 = float(window[0])
        rel = src_offset - w0  # where the source's audio starts, from the part's start
        expected = max(0.0, rel) / t
        if rel < 0 and -1e-3 < report.av_offset < slack + 1e-3:
            expected = report.av_offset  # trimmed to the part's start (or the next packet)
        err = report.av_offset - expected
        if a0.duration is not None and report.audio_duration is not None:
            a_end = rel + float(a0.duration)
            if window[1] is not None:
                a_end = min(a_end, float(window[1]))
            dur_err = report.audio_duration - ((a_end - max(0.0, rel)) / t
                                               - (expected - max(0.0, rel) / t))
            if abs(dur_err) > slack and abs(dur_err) > abs(err):
                err = dur_err
        return err
    expected = src_offset / t
    trimmed = 0.0
    if src_offset < 0 and abs(report.av_offset) < slack + 1e-3:
        expected = report.av_offset  # pre-roll trimmed (mkv/webm copy: to a whole packet)
        trimmed = -src_offset + report.av_offset * t
    err = report.av_offset - expected
    if a0.duration is not None and report.audio_duration is not None:
        dur_err = report.audio_duration - (float(a0.duration) - trimmed) / t
        if abs(dur_err) > slack and abs(dur_err) > abs(err):
            err = dur_err
    return err


__all__ = ["Progress", "RunSummary", "fmt_rate", "sync_error"]
