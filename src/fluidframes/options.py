"""The options of a run, defined once.

Every option is a field of a typed, frozen dataclass with its default, its bounds and its help
text in the field's :class:`Spec`. Everything that takes options derives from these classes or
is fed by them:

* the command line (:func:`add_arguments` makes the flags, :meth:`_Options.from_namespace`
  reads them back),
* the web form and the API schema (:func:`web_fields`, :func:`json_schema`, :func:`parse_form`),
* the Python API (``interpolate_video(src, dst, **kwargs)`` -> :meth:`RunOptions.from_kwargs`),
* the Ray workers and the web app's model pool (a :class:`ModelConfig` is what they are given),
* the bench (its model settings are a :class:`ModelConfig`).

Values arrive as text (CLI, form fields) or as Python values (API); :func:`coerce` turns either
into the field's type and checks its bounds, and ``validated()`` adds the rules between fields.
Any violation is an :class:`~fluidframes.errors.InputError` with the same one-line message
wherever the value came from, e.g. ``multi must be a whole number from 2 to 64, got 1000000``.

This module imports neither torch nor PyAV (the CLI's start-up and ``--help`` stay fast).
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar, Self

from .errors import InputError

# ---- limits: what a user could mean; anything beyond is a typo or an attack --------------------

MAX_MULTI = 64  #: --multi: 64x is already 1 s of source -> 64 s at the same rate in slow motion
MAX_EXP = 6  #: --exp: 2**6 = 64
MAX_FPS = 1000  #: --fps / --input-fps (frames per second)
#: Output frames of one run (24 h at 60 fps is 5.2 M). Checked once the input is probed,
#: before any work starts.
MAX_OUTPUT_FRAMES = 6_000_000
MAX_THREADS = 1024
MAX_WORKERS = 1024
MAX_SEGMENT_SECONDS = 86_400.0
MIN_SEGMENT_SECONDS = 0.1
MAX_TIME = 360_000  #: --start / --duration: 100 hours
MIN_DURATION = 0.001  #: --duration: 1 ms (the window holds at least one output frame)
GIF_PALETTES = ("scene", "clip", "frame")
GIF_DITHERS = ("bayer", "sierra2_4a", "sierra2", "floyd_steinberg", "none")
MAX_GIF_FPS = 100  #: GIF delays are whole centiseconds

SCALES = (0.25, 0.5, 1.0, 2.0, 4.0)
#: ``--quality``: what each preset sets (unless given explicitly). Measured trade-offs:
#: benchmarks/README.md ("Quality presets").
QUALITY_PRESETS: dict[str, dict[str, Any]] = {  # measured: benchmarks/README.md "Presets"
    "fast": {"model": "rife-4.6", "scale": 0.5},
    "balanced": {"model": "rife-4.25"},
    "best": {"model": "rife-ensemble-max", "precision": "fp32"},
}
#: What precision and scale are when neither the user nor a preset says.
_PLAIN_DEFAULTS: dict[str, Any] = {"precision": "auto", "scale": 1.0}
PRECISIONS = ("auto", "half", "fp32", "fp16", "bf16")
BACKENDS = ("auto", "torch", "eager")
DEVICES = ("auto", "cpu", "cuda", "mps")  # and cuda:N
AUDIO_MODES = ("stretch", "drop")
CONTAINERS = ("mp4", "mkv", "mov", "webm", "gif")

_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"0", "false", "off", "no"}


@dataclass(frozen=True)
class Spec:
    """What one option is: its kind, bounds and help text, and where it is offered.

    ``kind``: ``int``, ``float``, ``rate`` (a frame rate: 60, 59.94, 60000/1001), ``time``
    (seconds or [HH:]MM:SS(.fff), read exactly), ``bool``, ``str``, ``choice`` (one of
    ``choices``), ``path`` or ``device``.
    """

    kind: str
    help: str
    min: float | None = None
    max: float | None = None
    choices: tuple | None = None
    zero_ok: bool = False  # 0 is allowed below ``min`` (segment_seconds: 0 = one segment)
    flag: str | None = None  # the CLI spelling when it is not --name-with-dashes
    invert: bool = False  # the flag turns a default-true option off (--no-scene-detect)
    cli: bool = True
    web: bool = False  # offered to uploads (web form and API)
    advanced: bool = False  # in the web form's "advanced" section
    group: str = "options"
    metavar: str | None = None
    label: str | None = None  # the web form's label (default: the name in words)
    web_help: str | None = None  # the web form's help when ``help`` describes the CLI flag
    examples: tuple | None = None  # suggestions for free-text options (the form's datalist)


def option(default: Any, kind: str, help: str, **spec: Any) -> Any:
    """A dataclass field carrying its :class:`Spec`."""
    return field(default=default, metadata={"spec": Spec(kind, help, **spec)})


def _spec(f) -> Spec:
    return f.metadata["spec"]


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _range_text(s: Spec) -> str:
    if s.min is not None and s.max is not None:
        text = f"from {_num(s.min)} to {_num(s.max)}"
    elif s.min is not None:
        text = f"at least {_num(s.min)}"
    else:
        text = f"at most {_num(s.max)}"
    return ("0 or " + text) if s.zero_ok else text


def _shown(value: Any) -> str:
    """A value as the user typed it (the same text whether it came as text or a number)."""
    text = str(value).strip() if not isinstance(value, float) else f"{value:g}"
    text = text if len(text) <= 40 else text[:37] + "..."
    # control characters (newlines, separators) shown escaped: the message stays one line
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _check_range(name: str, s: Spec, value: float, what: str, raw: Any) -> None:
    if s.zero_ok and value == 0:
        return
    if (s.min is not None and value < s.min) or (s.max is not None and value > s.max):
        raise InputError(f"{name} must be {what} {_range_text(s)}, got {_shown(raw)}")


_TIME_RE = re.compile(r"^(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?|\.\d+)$")


def parse_time(value: Any) -> Fraction | None:
    """Seconds as an exact Fraction: ``12.5``, ``90``, ``1:30``, ``01:02:03.250``, ``25/2``, or
    a number; None when it is not a time (the caller words the error)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, Fraction)):
        return Fraction(value)
    if isinstance(value, float):
        return Fraction(repr(value)) if math.isfinite(value) else None
    text = str(value).strip()
    if "/" in text:
        num, _, den = text.partition("/")
        if num.strip().isdigit() and den.strip().isdigit() and int(den) > 0:
            return Fraction(int(num), int(den))
        return None
    m = _TIME_RE.match(text)
    if m is None:
        return None
    h, mnt, sec = m.groups()
    if h is not None and mnt is None:  # MM:SS
        h, mnt = None, h
    if mnt is not None and Fraction(sec) >= 60 or h is not None and int(mnt) >= 60:
        return None
    return int(h or 0) * 3600 + int(mnt or 0) * 60 + Fraction(sec)


def fmt_time(t: Fraction | float) -> str:
    """Seconds as the shortest decimal text to the millisecond: 12.5, 4, 0.042."""
    return f"{float(t):.3f}".rstrip("0").rstrip(".")


def coerce(name: str, s: Spec, value: Any) -> Any:
    """``value`` (text or a Python value) as the option's type, bounds checked; None stays None."""
    if value is None or (isinstance(value, str) and not value.strip() and s.kind != "str"):
        return None
    k = s.kind
    if k == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise InputError(f"{name} must be true or false, got {_shown(value)}")
    if k == "int":
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise InputError(f"{name} must be a whole number {_range_text(s)}, got {_shown(value)}")
        try:
            n = int(value.strip()) if isinstance(value, str) else int(value)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"{name} must be a whole number {_range_text(s)}, "
                             f"got {_shown(value)}") from None
        _check_range(name, s, n, "a whole number", value)
        return n
    if k == "float":
        try:
            x = float(value.strip()) if isinstance(value, str) else float(value)
        except (TypeError, ValueError, OverflowError):
            x = math.nan
        if isinstance(value, bool) or not math.isfinite(x):
            raise InputError(f"{name} must be a number {_range_text(s)}, got {_shown(value)}")
        _check_range(name, s, x, "a number", value)
        if s.choices is not None and x not in s.choices:
            raise InputError(f"{name} must be one of {', '.join(_num(c) for c in s.choices)}, "
                             f"got {_shown(value)}")
        return x
    if k == "time":
        t = parse_time(value)
        if t is None or (s.min is not None and t < Fraction(str(s.min))) or (
                s.max is not None and t > s.max):
            raise InputError(f"{name} must be a time in seconds or HH:MM:SS(.fff) "
                             f"{_range_text(s)}, got {_shown(value)}")
        return t
    if k == "rate":
        from .timing import parse_rate

        try:
            r = parse_rate(value if isinstance(value, (int, Fraction)) else str(value).strip())
        except InputError:
            r = None
        if r is None or (s.max is not None and r > s.max):
            raise InputError(f"{name} must be a frame rate above 0 and at most {_num(s.max)} "
                             f"(e.g. 60, 59.94, 60000/1001), got {_shown(value)}")
        return r
    if not isinstance(value, (str, Path)):
        raise InputError(f"{name} must be text, got {_shown(value)}")
    text = str(value).strip()
    if k == "choice":
        if text not in s.choices:
            raise InputError(f"{name} must be one of {', '.join(s.choices)}, got {_shown(value)}")
        return text
    if k == "device":
        rest = text.removeprefix("cuda:")
        if text not in DEVICES and not (text.startswith("cuda:") and rest.isdigit()):
            raise InputError(f"{name} must be one of {', '.join(DEVICES)} or cuda:N, "
                             f"got {_shown(value)}")
        return text
    if not text:
        return None
    if any(ord(c) < 32 for c in text) or len(text) > 4096:
        raise InputError(f"{name}: invalid text {_shown(value)}")
    return text


class _Options:
    """Shared behaviour of the option dataclasses (subclasses are frozen dataclasses)."""

    _cross_checks: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def specs(cls) -> dict[str, Spec]:
        return {f.name: _spec(f) for f in fields(cls)}

    @classmethod
    def from_kwargs(cls, **values: Any) -> Self:
        """Build and validate from keyword values (text or Python values); None = default."""
        unknown = set(values) - set(cls.specs())
        if unknown:
            raise InputError(f"unknown option(s): {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in values.items() if v is not None}).validated()

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> Self:
        """The options given on a command line built by :func:`add_arguments`."""
        return cls.from_kwargs(**{k: getattr(args, k) for k in cls.specs()
                                  if getattr(args, k, None) is not None})

    def validated(self) -> Self:
        """Each field coerced and bounds-checked, then the rules between fields."""
        out = {}
        for f in fields(self):
            v = coerce(f.name, _spec(f), getattr(self, f.name))
            out[f.name] = f.default if v is None and f.default is not MISSING else v
        obj = replace(self, **out)
        obj._check()
        return obj

    def _check(self) -> None:
        """Rules between fields (subclasses)."""

    def to_kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# ---- the model -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelConfig(_Options):
    """Which network, where and how it runs; one of these makes one ready model."""

    model: str | None = option(
        None, "str", "model name (default rife-4.25; see `fluidframes models list`)",
        web=True, group="model", label="Model")
    model_file: str | None = option(
        None, "path", "your own Practical-RIFE checkpoint (flownet.pkl) or its folder "
        "(train_log/); the family is detected from its layers", group="model", metavar="PATH")
    device: str = option("auto", "device", "auto, cpu, cuda, cuda:N or mps", group="model")
    # precision and scale are None until validated(): a --quality preset fills only what was
    # not given (an explicit "auto" or 1 is kept), then the plain defaults fill the rest
    precision: str | None = option(
        None, "choice", "auto (the default): fp16 on CUDA, bf16 convolutions on CPUs that have "
        "them, else fp32; half: the device's half precision (fp16 on GPUs, bf16 on CPUs)",
        choices=PRECISIONS, group="model", web=True, advanced=True,
        label="Precision")
    backend: str = option(
        "auto", "choice", "inference path: torch (fast, default where it applies) or eager",
        choices=BACKENDS, group="model")
    scale: float | None = option(
        None, "float", "flow resolution factor: 0.25, 0.5, 1 (the default), 2, 4 (0.5 for 4K)",
        choices=SCALES, group="model", web=True, advanced=True, label="Flow scale")
    threads: int | None = option(
        None, "int", "CPU threads for inference (default: one per physical core)",
        min=1, max=MAX_THREADS, group="model", metavar="N")
    # None: the model's own default (on in the ensembles, off in single models)
    protect_static: bool | None = option(
        None, "bool", "static-overlay protection: burned-in subtitles, logos and letterbox "
        "bars that stand still while the picture moves are taken from the source frames "
        "instead of being dragged by the flow (default: on in rife-ensemble and "
        "rife-ensemble-max, off otherwise; --no-protect-static turns it off)", group="model",
        web=True, advanced=True, label="Protect static overlays",
        web_help="keep burned-in subtitles, logos and letterbox bars still (default: on in "
        "the ensembles, off for single models)")
    quality: str | None = option(
        None, "choice", "preset: fast (rife-4.6, flow at half resolution), balanced (rife-4.25, the default) or best "
        "(rife-ensemble-max, fp32: the most accurate, ~5x slower); options you give yourself "
        "win",
        choices=tuple(QUALITY_PRESETS), group="model", web=True)

    def validated(self) -> ModelConfig:
        obj = super().validated()
        fill = {k: v for k, v in QUALITY_PRESETS.get(obj.quality or "", {}).items()
                if getattr(obj, k) is None and not (k == "model" and obj.model_file)}
        for k, plain in _PLAIN_DEFAULTS.items():
            if getattr(obj, k) is None:
                fill.setdefault(k, plain)
        return super(ModelConfig, replace(obj, **fill)).validated() if fill else obj

    @property
    def name(self) -> str:
        """The model's name: the file's name for a model file, else the zoo name."""
        if self.model_file:
            p = Path(self.model_file)
            return p.name
        from .models.registry import DEFAULT_MODEL

        return self.model or DEFAULT_MODEL

    def _check(self) -> None:
        if self.model_file is None and self.model is not None:
            from .models.registry import check_name

            check_name(self.model)  # a ModelError (exit 2) naming the known models

    def resolved(self) -> ModelConfig:
        """With the default model filled in and a model file as an absolute path (for workers
        in other processes and as a cache key)."""
        if self.model_file:
            return replace(self, model=None, model_file=str(Path(self.model_file).resolve()))
        return replace(self, model=self.name)


# ---- the video run -------------------------------------------------------------------------------

@dataclass(frozen=True)
class VideoOptions(_Options):
    """What a video run makes: rate, scenes, encoding, audio, segments, workers."""

    multi: int | None = option(
        None, "int", "frame-rate multiplier N (default 2)", min=2, max=MAX_MULTI, group="rate",
        web=True, metavar="N", label="Multiply frame rate by")
    exp: int | None = option(
        None, "int", "multiplier 2^K (as in the RIFE scripts)", min=1, max=MAX_EXP,
        group="rate", web=True, metavar="K", label="Multiply by 2 to the power")
    fps: Fraction | None = option(
        None, "rate", "target frame rate, any value: 60, 59.94, 60000/1001", max=MAX_FPS,
        group="rate", web=True, metavar="F", label="Target frame rate (fps)")
    slowmo: bool = option(False, "bool", "keep the frame rate: motion plays N times slower",
                          group="rate", web=True, label="Slow motion")
    audio: str = option("stretch", "choice", "audio with --slowmo: pitch-preserving stretch "
                        "(default) or drop", choices=AUDIO_MODES, group="rate", web=True,
                        advanced=True, label="Audio in slow motion")
    input_fps: Fraction | None = option(
        None, "rate", "frame rate of an image folder (default 30)", max=MAX_FPS, group="rate",
        metavar="F")
    scene_detect: bool = option(True, "bool", "interpolate across scene cuts too",
                                flag="--no-scene-detect", invert=True, group="scenes", web=True,
                                label="Scene-cut detection",
                                web_help="hold the nearest frame at a cut instead of morphing "
                                "across it")
    scene_threshold: float | None = option(
        None, "float", "cut sensitivity, 0..1 (default 0.075; lower finds more cuts)",
        min=0.001, max=1.0, group="scenes", web=True, advanced=True, metavar="T",
        label="Cut sensitivity")
    dedup: bool = option(False, "bool", "drop duplicate frames (animation on twos) and re-time "
                         "the motion", group="scenes", web=True, advanced=True,
                         label="Drop duplicate frames")
    loop: bool = option(False, "bool", "a seamless loop: the frames after the last one are "
                        "interpolated towards the first (looping GIFs, loop videos)",
                        group="rate", web=True, advanced=True,
                        label="Seamless loop")
    start: Fraction | None = option(
        None, "time", "process the input from this time on (seconds or HH:MM:SS.fff); audio, "
        "subtitles and chapters are cut to the same part", min=0, max=MAX_TIME, group="trim",
        web=True, advanced=True, metavar="T", label="Start at")
    duration: Fraction | None = option(
        None, "time", "process only this long a part of the input (seconds or HH:MM:SS.fff; "
        "up to the end if the input is shorter)", min=MIN_DURATION, max=MAX_TIME,
        group="trim", web=True, advanced=True, metavar="T", label="Duration")
    montage: bool = option(False, "bool", "original and result side by side", group="output",
                           web=True, label="Side-by-side montage")
    codec: str | None = option(
        None, "str", "video encoder (e.g. libx264, libx265, libvpx-vp9, prores_ks)",
        group="output", web=True, advanced=True, label="Video codec",
        examples=("libx264", "libx265", "libvpx-vp9", "libsvtav1", "prores_ks"))
    crf: int | None = option(None, "int", "constant quality, lower is better (default 18 for "
                             "H.264; 0-51 for x264/x265, 0-63 for VP9/AV1)", min=0, max=63,
                             group="output", web=True, label="Quality (CRF)")
    preset: str | None = option(None, "str", "encoder preset (e.g. medium, slow)",
                                group="output", web=True, advanced=True, label="Encoder preset",
                                examples=("ultrafast", "fast", "medium", "slow", "veryslow"))
    pix_fmt: str | None = option(None, "str", "pixel format, e.g. yuv420p10le for 10-bit",
                                 group="output", web=True, advanced=True, label="Pixel format",
                                 examples=("yuv420p", "yuv420p10le", "yuv422p10le", "yuv444p",
                                           "yuv444p10le"))
    png: bool = option(False, "bool", "write a folder of PNG frames", group="output")
    ext: str | None = option(None, "choice", "container of the default output name (when -o "
                             "is not given)", choices=CONTAINERS, group="output")
    gif_palette: str = option(
        "scene", "choice", "GIF colours: one palette per scene (default), one for the whole "
        "clip, or a new one every frame (largest files)", choices=GIF_PALETTES, group="gif",
        web=True, advanced=True, label="GIF palette")
    gif_dither: str = option(
        "bayer", "choice", "GIF dithering: bayer (ordered, default: still areas stay still, "
        "small files), error diffusion (sierra2_4a, sierra2, floyd_steinberg: larger, "
        "fizzing) or none (bands)",
        choices=GIF_DITHERS, group="gif", web=True, advanced=True, label="GIF dithering")
    gif_fps_max: Fraction = option(
        Fraction(50), "rate", "highest GIF frame rate (default 50: browsers slow faster GIFs "
        "down); a faster output is made at this rate", max=MAX_GIF_FPS, group="gif", web=True,
        advanced=True, label="GIF frame-rate cap", metavar="F")
    gif_width: int | None = option(
        None, "int", "scale the GIF to this width (height follows)", min=16, max=8192,
        group="gif", web=True, advanced=True, label="GIF width", metavar="W")
    overwrite: bool = option(False, "bool", "replace an existing output", group="output")
    keep_subtitles: bool = option(True, "bool", "leave subtitle tracks out",
                                  flag="--no-subtitles", invert=True, group="output", web=True,
                                  advanced=True, label="Keep subtitles",
                                  web_help="copy the source's subtitle tracks into the result")
    segment_seconds: float = option(
        10.0, "float", "source seconds per segment, cut at keyframes (default 10; 0: one)",
        min=MIN_SEGMENT_SECONDS, max=MAX_SEGMENT_SECONDS, zero_ok=True, group="segments",
        metavar="S", web=True, advanced=True, label="Segment length (s)")
    resume: bool = option(False, "bool", "continue an interrupted run from its completed "
                          "segments", group="segments")
    workers: int | None = option(
        None, "int", "render segments on N local Ray workers (pip install "
        "'fluidframes[distributed]')", min=1, max=MAX_WORKERS, group="segments", metavar="N")
    ray_address: str | None = option(
        None, "str", "render on an existing Ray cluster (e.g. ray://head:10001 or auto)",
        group="segments", metavar="ADDR")
    allow_partial: bool = option(
        False, "bool", "a truncated or damaged input: keep what decodes (default: refuse it, "
        "exit 2)", group="input", web=True, advanced=True)
    work_root: str | None = option(
        None, "path", "folder for the segment work folders kept for --resume (default: the "
        "user cache's work/; `fluidframes cache` lists them)", group="segments", metavar="DIR")

    def _check(self) -> None:
        self.rate_spec()  # multi/exp/fps combinations

    @property
    def trimmed(self) -> bool:
        """Whether only a part of the input is processed (--start/--duration)."""
        return bool(self.start) or self.duration is not None

    def rate_spec(self):
        """The rate request as :class:`fluidframes.timing.RateSpec`."""
        from .timing import RateSpec

        if self.multi is not None and self.exp is not None:
            raise InputError("give either multi or exp, not both")
        if self.exp is not None:
            return RateSpec.from_exp(self.exp, fps=self.fps, slowmo=self.slowmo)
        return RateSpec(multi=self.multi, fps=self.fps, slowmo=self.slowmo)

    @property
    def distributed(self) -> bool:
        return bool(self.workers or self.ray_address)


@dataclass(frozen=True)
class RunOptions:
    """A whole video run: the model and the video options."""

    model: ModelConfig = field(default_factory=ModelConfig)
    video: VideoOptions = field(default_factory=VideoOptions)

    @classmethod
    def from_kwargs(cls, **values: Any) -> RunOptions:
        """Flat keyword options (``multi=4, model="rife-4.6", scale=0.5``), validated."""
        mk, vk = ModelConfig.specs(), VideoOptions.specs()
        unknown = set(values) - set(mk) - set(vk)
        if unknown:
            raise InputError(f"unknown option(s): {', '.join(sorted(unknown))}")
        return cls(ModelConfig.from_kwargs(**{k: v for k, v in values.items() if k in mk}),
                   VideoOptions.from_kwargs(**{k: v for k, v in values.items() if k in vk}))

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> RunOptions:
        return cls(ModelConfig.from_namespace(args), VideoOptions.from_namespace(args))

    def to_kwargs(self) -> dict[str, Any]:
        return {**self.model.to_kwargs(), **self.video.to_kwargs()}

    def output_key(self) -> dict[str, str]:
        """The options that decide the output frames (what a resume must match)."""
        keep_model = {"model_file", "precision", "scale"} if self.model.model_file else {
            "model", "precision", "scale"}
        model = {k: v for k, v in self.model.resolved().to_kwargs().items() if k in keep_model}
        skip = {"overwrite", "resume", "workers", "ray_address", "work_root"}
        video = {k: v for k, v in self.video.to_kwargs().items() if k not in skip}
        return {k: str(v) for k, v in {**model, **video}.items()}


def check_output_frames(frames: int | None) -> None:
    """Refuse a run whose output would be longer than :data:`MAX_OUTPUT_FRAMES`."""
    if frames is not None and frames > MAX_OUTPUT_FRAMES:
        raise InputError(f"the output would have {frames:,} frames (at most "
                         f"{MAX_OUTPUT_FRAMES:,}): ask for a lower rate or multiplier")


# ---- the command line ----------------------------------------------------------------------------

def add_arguments(parser: argparse.ArgumentParser, cls: type[_Options], *,
                  include: Iterable[str] | None = None, exclude: Iterable[str] = (),
                  defaults: Mapping[str, Any] | None = None) -> None:
    """Add ``cls``'s options as flags, grouped by their spec's group.

    Every flag is read as text (or a store-const for booleans) with default None, so that
    :meth:`_Options.from_namespace` knows what was given and one coercion gives the same
    messages as the API and the web form.
    """
    groups: dict[str, Any] = {}
    names = list(include) if include is not None else list(cls.specs())
    defaults = dict(defaults or {})
    for name in names:
        s = cls.specs()[name]
        if not s.cli or name in exclude:
            continue
        g = groups.get(s.group)
        if g is None:
            g = groups[s.group] = parser.add_argument_group(s.group)
        flag = s.flag or "--" + name.replace("_", "-")
        help_text = s.help
        if s.choices is not None and s.kind == "choice":
            help_text += f" ({', '.join(map(str, s.choices))})"
        if name in defaults:
            help_text += f" [default here: {defaults[name]}]"
        if s.kind == "bool":
            g.add_argument(flag, dest=name, action="store_const", const=not s.invert,
                           default=defaults.get(name), help=help_text)
            if cls.__dataclass_fields__[name].default is None:  # unset, on or off
                g.add_argument("--no-" + flag[2:], dest=name, action="store_const",
                               const=False, help=argparse.SUPPRESS)
        else:
            g.add_argument(flag, dest=name, default=defaults.get(name), help=help_text,
                           metavar=s.metavar or name.upper())


# ---- the web form and the API schema -------------------------------------------------------------

def web_fields() -> dict[str, tuple[type[_Options], Spec]]:
    """The options an upload may set (name -> owning class, spec)."""
    out: dict[str, tuple[type[_Options], Spec]] = {}
    for cls in (ModelConfig, VideoOptions):
        for name, s in cls.specs().items():
            if s.web:
                out[name] = (cls, s)
    return out


_JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "rate": "string",
               "time": "string",
               "str": "string", "choice": "string", "path": "string", "device": "string"}


def json_schema(names: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """JSON-schema properties of the web options (for OpenAPI and the page's form)."""
    out = {}
    for name, (cls, s) in web_fields().items():
        if names is not None and name not in names:
            continue
        prop: dict[str, Any] = {"type": _JSON_TYPES[s.kind],
                                "title": s.label or name.replace("_", " ").capitalize(),
                                "description": s.web_help or s.help, "x-group": s.group}
        default = cls.__dataclass_fields__[name].default
        if default is not None and default is not MISSING:
            prop["default"] = str(default) if isinstance(default, Fraction) else default
        if s.min is not None:
            prop["minimum"] = s.min
        if s.max is not None:
            prop["maximum"] = s.max
        if s.choices is not None:
            prop["enum"] = list(s.choices)
        if s.examples is not None:
            prop["examples"] = list(s.examples)
        if s.advanced:
            prop["x-advanced"] = True
        out[name] = prop
    return out


def parse_form(values: Mapping[str, str]) -> dict[str, Any]:
    """Form fields (text) -> validated keyword options for :meth:`RunOptions.from_kwargs`.

    Only the web options are accepted; ``no_scene_detect`` is the CLI's spelling of
    ``scene_detect=false`` and is accepted too.
    """
    allowed = web_fields()
    vals = dict(values)
    if "no_scene_detect" in vals:
        nsd = coerce("no_scene_detect", Spec("bool", ""), vals.pop("no_scene_detect"))
        if nsd is not None:
            sd = coerce("scene_detect", Spec("bool", ""), vals.get("scene_detect"))
            if sd is not None and sd == nsd:
                raise InputError("scene_detect and no_scene_detect disagree")
            vals["scene_detect"] = str(not nsd)
    unknown = sorted(set(vals) - set(allowed))
    if unknown:
        raise InputError(f"unknown field(s): {', '.join(unknown)}; known: "
                         f"{', '.join(allowed)}")
    out = {}
    for name, text in vals.items():
        v = coerce(name, allowed[name][1], text)
        if v is not None:
            out[name] = str(v) if isinstance(v, Fraction) else v  # JSON-friendly, exact
    RunOptions.from_kwargs(**out)  # the rules between fields, before a job exists
    return out


__all__ = [
    "MAX_EXP", "MAX_FPS", "MAX_MULTI", "MAX_OUTPUT_FRAMES", "ModelConfig", "RunOptions", "Spec",
    "VideoOptions", "add_arguments", "check_output_frames", "coerce", "fmt_time", "json_schema",
    "parse_form", "parse_time", "web_fields",
]
