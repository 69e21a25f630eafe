"""Media layer: probe/decode (:mod:`.reader`), encode (:mod:`.writer`), remux audio,
subtitles and chapters (:mod:`.mux`). Everything goes through PyAV; no ffmpeg subprocess."""

from fluidframes.video.mux import MuxReport, finalize
from fluidframes.video.reader import Frame, StreamInfo, VideoInfo, probe, read_frames
from fluidframes.video.writer import EncodeOptions, VideoWriter, output_kind

__all__ = [
    "EncodeOptions", "Frame", "MuxReport", "StreamInfo", "VideoInfo", "VideoWriter", "finalize",
    "output_kind", "probe", "read_frames",
]
