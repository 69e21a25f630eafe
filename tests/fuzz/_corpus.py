"""A corpus of awkward inputs, made at test time (tiny files, FFmpeg's CLI and PyAV as
independent generators). Each case says what the CLI must answer: 'ok' (exit 0), 'refused'
(exit 2, one line) or 'either' (0 or 2: e.g. a cut that only loses the last frame's tail)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from _media import encode_frames, ffmpeg


@dataclass
class Case:
    name: str
    path: Path
    expect: str  # 'ok' | 'refused' | 'either'


def _clip(path: Path, *extra: str, seconds: float = 1, size: str = "64x48", rate: int = 24,
          audio: bool = True, vcodec: tuple[str, ...] = ("-c:v", "libx264", "-pix_fmt",
                                                          "yuv420p")) -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
                 "-c:a", "aac"]
    ffmpeg(*args, *vcodec, "-g", "12", *extra, str(path))
    return path


def _pyav_clip(path: Path, rate: int, step: int, time_base: Fraction, frames: int = 12) -> Path:
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=rate)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        st.codec_context.time_base = time_base
        st.time_base = time_base
        for i in range(frames):
            img = np.full((48, 64, 3), 20 * i % 256, np.uint8)
            f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            f.pts, f.time_base = i * step, time_base
            c.mux(st.encode(f))
        c.mux(st.encode(None))
    return path


def build(root: Path) -> dict[str, Case]:
    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(name: str, path: Path, expect: str) -> None:
        cases.append(Case(name, path, expect))

    p = root / "zero.mp4"
    p.write_bytes(b"")
    add("zero_byte", p, "refused")
    p = root / "notes.mp4"
    p.write_text("this is a text file, not a video\n" * 40)
    add("text_as_mp4", p, "refused")

    fast = _clip(root / "base_fast.mp4", "-movflags", "+faststart", seconds=2)
    slow = _clip(root / "base_slow.mp4", seconds=2)
    for base, tag, cuts in ((fast, "faststart", (0.1, 0.3, 0.7)), (slow, "moov_last",
                                                                   (0.3, 0.7, 0.97))):
        data = base.read_bytes()
        for cut in cuts:
            p = root / f"cut_{tag}_{int(cut * 100)}.mp4"
            p.write_bytes(data[: int(len(data) * cut)])
            add(f"truncated_{tag}_{int(cut * 100)}", p, "refused")
    data = fast.read_bytes()
    p = root / "cut_faststart_99.mp4"  # only the last packet's tail is missing
    p.write_bytes(data[:-200])
    add("truncated_faststart_99", p, "either")
    bad = bytearray(data)
    for i in range(int(len(bad) * 0.45), int(len(bad) * 0.55)):
        bad[i] = (i * 7919) % 256
    p = root / "corrupt_middle.mp4"
    p.write_bytes(bytes(bad))
    add("corrupt_middle", p, "refused")
    mkv = _clip(root / "base.mkv", seconds=2)
    p = root / "cut.mkv"
    p.write_bytes(mkv.read_bytes()[: int(mkv.stat().st_size * 0.4)])
    add("truncated_mkv", p, "refused")

    png = root / "one.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", str(png))
    p = root / "image.mp4"
    shutil.copyfile(png, p)
    add("png_as_mp4", p, "refused")
    p = root / "one_frame.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "1", "-c:v",
           "libx264", "-pix_fmt", "yuv420p", str(p))
    add("one_frame_mp4", p, "refused")
    folder = root / "one_image"
    folder.mkdir()
    shutil.copyfile(png, folder / "0001.png")
    add("folder_one_image", folder, "refused")

    p = root / "vfr.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.5",
           "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30:duration=0.5",
           "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
           "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(p))
    add("vfr_mkv", p, "ok")
    for w, h in ((3, 3), (5, 7)):
        p = root / f"odd_{w}x{h}.mkv"
        ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "8", "-vf",
               f"scale={w}:{h}", "-c:v", "libx264", "-pix_fmt", "yuv444p", str(p))
        add(f"odd_{w}x{h}", p, "ok")
    p = root / "tone.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "aac", str(p))
    add("audio_only", p, "refused")
    p = _clip(root / "ten_bit.mkv", seconds=0.5, audio=False,
              vcodec=("-c:v", "libx264", "-pix_fmt", "yuv420p10le"))
    add("ten_bit", p, "ok")
    p = _clip(root / "rotated.mp4", "-metadata:s:v:0", "rotate=90", seconds=0.5)
    add("rotated", p, "ok")
    p = _pyav_clip(root / "huge_fps.mp4", 1_000_000, 1, Fraction(1, 1_000_000))
    add("huge_fps_real", p, "refused")  # frames 1 us apart: broken timestamps
    p = _pyav_clip(root / "huge_fps_declared.mkv", 1_000_000, 41667, Fraction(1, 1_000_000))
    add("huge_fps_declared", p, "ok")  # says 30000 fps, frames are 1/24 s apart

    # two frames: the least that can be interpolated
    p = root / "two_frames.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "2", "-c:v",
           "libx264", "-pix_fmt", "yuv420p", str(p))
    add("two_frames_mp4", p, "ok")
    # a packet the decoder cannot read (PyAV writes garbage for frame 5 of an mjpeg stream)
    p = root / "corrupt_packet.mkv"
    encode_frames(p, [np.full((48, 64, 3), 15 * n, np.uint8) for n in range(12)],
                  codec="mjpeg", pix_fmt="yuvj420p", rate=25, corrupt=(5,))
    add("corrupt_packet_mkv", p, "refused")
    # extreme sizes: 2x2, a 4096x8 strip
    p = root / "tiny_2x2.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=2x2:rate=24", "-frames:v", "6", "-c:v",
           "libx264", "-pix_fmt", "yuv444p", str(p))
    add("tiny_2x2", p, "ok")
    p = root / "strip_4096x8.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=4096x8:rate=24", "-frames:v", "4", "-c:v",
           "libx264", "-pix_fmt", "yuv420p", str(p))
    add("strip_4096x8", p, "ok")
    # alpha (qtrle rgba in mov: an mp4 output drops it and says so)
    p = root / "alpha.mov"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.5,format=rgba",
           "-c:v", "qtrle", str(p))
    add("alpha_mov", p, "ok")
    # interlaced flags (x264 tff)
    p = root / "interlaced.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=0.5", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-flags", "+ildct+ilme", "-x264opts", "tff=1", str(p))
    add("interlaced_flags", p, "ok")
    # many tracks: two videos, two audios, a subtitle
    srt = root / "subs.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:00,400\nhello\n")
    p = root / "many_tracks.mkv"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24:duration=0.5",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=0.5",
           "-f", "lavfi", "-i", "sine=frequency=880:duration=0.5",
           "-f", "lavfi", "-i", "testsrc=size=32x24:rate=12:duration=0.5", "-i", str(srt),
           "-map", "0", "-map", "1", "-map", "2", "-map", "3", "-map", "4",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", "srt", str(p))
    add("many_tracks_mkv", p, "ok")
    # an animated gif
    p = root / "anim.gif"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-frames:v", "6", str(p))
    add("gif", p, "ok")
    # image folders: mixed sizes; junk (a text file, a cut image) among the frames
    folder = root / "mixed_sizes"
    folder.mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "3",
           str(folder / "%04d.png"))
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=80x60:rate=24", "-frames:v", "1",
           str(folder / "0004.png"))
    add("folder_mixed_sizes", folder, "refused")
    folder = root / "junk"
    folder.mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "4",
           str(folder / "%04d.png"))
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "0003.png").write_bytes((folder / "0002.png").read_bytes()[:100])
    add("folder_with_junk", folder, "refused")
    folder = root / "images_and_text"
    folder.mkdir()
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x48:rate=24", "-frames:v", "4",
           str(folder / "%04d.png"))
    (folder / "README.txt").write_text("frames of a test\n")
    (folder / ".DS_Store").write_bytes(b"\x00\x01junk")
    add("folder_images_and_text", folder, "ok")
    return {c.name: c for c in cases}


#: Cases whose damage --allow-partial may keep: 'ok' (what decodes is interpolated) or
#: 'refused' (nothing usable decodes).
PARTIAL = {
    "truncated_faststart_30": "either", "truncated_faststart_70": "ok",
    "truncated_moov_last_97": "either", "truncated_faststart_99": "ok",
    "corrupt_middle": "either", "truncated_mkv": "ok", "corrupt_packet_mkv": "ok",
    "folder_with_junk": "ok",
}


def record(kind: str, case: str, rc: int, lines: list[str], correct: bool | None = None,
           traceback: bool = False) -> None:
    """One outcome for the closing table, appended to $FLUIDFRAMES_FUZZ_LOG when it is set
    (JSON lines: tests/fuzz/table.py turns them into the table)."""
    path = os.environ.get("FLUIDFRAMES_FUZZ_LOG")
    if not path:
        return
    with open(path, "a") as fh:
        fh.write(json.dumps({"kind": kind, "case": case, "rc": rc, "lines": len(lines),
                             "correct": correct, "traceback": traceback}) + "\n")
