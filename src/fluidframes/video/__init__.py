"""Media layer: probe/decode (:mod:`.reader`), encode (:mod:`.writer`), remux audio,
subtitles and chapters (:mod:`.mux`). Everything goes through PyAV; no ffmpeg subprocess."""

from fluidframes.video.reader import Frame, StreamInfo, VideoInfo, probe, read_frames

__all__ = ["Frame", "StreamInfo", "VideoInfo", "probe", "read_frames"]
