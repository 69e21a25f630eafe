"""Segments/s with the local executor and 1 or 2 Ray workers, and the per-segment overhead.

Usage: python benchmarks/bench_segments.py CLIP MODEL_FILE [--multi 2] [--json out.json]

Each configuration renders the same clip with several segment lengths; a least-squares line
``seconds = fixed + per_segment * segments + per_frame * frames`` (frames are constant per clip,
so it reduces to ``fixed' + per_segment * segments``) gives the cost of one more segment. The Ray
pool is started before timing (its start-up is reported separately).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("model_file")
    ap.add_argument("--multi", type=int, default=2)
    ap.add_argument("--seconds", default="0,2,1,0.5,0.25")
    ap.add_argument("--configs", default="local,ray1,ray2")
    ap.add_argument("--json")
    a = ap.parse_args()
    from fluidframes.executors import ray as distributed
    from fluidframes.options import ModelConfig
    from fluidframes.pipeline import interpolate_video

    lengths = [float(x) for x in a.seconds.split(",")]
    rows = []
    for cfg in a.configs.split(","):
        workers = None if cfg == "local" else int(cfg[3:])
        startup = None
        if workers:
            distributed.shutdown()
            t = time.monotonic()
            distributed.RayExecutor(ModelConfig(model_file=a.model_file), workers=workers)
            startup = time.monotonic() - t
        for seg in lengths:
            with tempfile.TemporaryDirectory() as d:
                t = time.monotonic()
                s = interpolate_video(a.clip, Path(d) / "o.mp4", multi=a.multi,
                                      model_file=a.model_file, segment_seconds=seg,
                                      workers=workers)
                secs = time.monotonic() - t
            row = {"config": cfg, "segment_seconds": seg, "segments": s.segments,
                   "frames_out": s.frames_out, "seconds": round(secs, 3),
                   "segments_per_s": round(s.segments / secs, 3),
                   "frames_per_s": round(s.frames_out / secs, 2), "pool_startup_s": startup}
            rows.append(row)
            print(json.dumps(row), flush=True)
    fits = {}
    for cfg in a.configs.split(","):
        pts = [(r["segments"], r["seconds"]) for r in rows if r["config"] == cfg]
        if len(pts) >= 2:
            x, y = np.array(pts, dtype=float).T
            slope, icpt = np.polyfit(x, y, 1)
            fits[cfg] = {"per_segment_s": round(float(slope), 3), "fixed_s": round(float(icpt), 3)}
    print(json.dumps({"fits": fits}), flush=True)
    distributed.shutdown()
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "fits": fits}, indent=1))


if __name__ == "__main__":
    main()
