"""Measure Cancel -> ``cancelled`` on a long 720p job through the real HTTP server.

Not a test (pytest does not collect it): a number for the record, e.g.

    ffmpeg -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine -t 600 \\
        -c:v libx264 -preset ultrafast -c:a aac -shortest long720.mp4
    python tests/server/measure_cancel.py long720.mp4 --model rife-4.6

It uploads the file once, then cancels it at several stages (right after it starts: probe and
model load; then mid-render after N output frames, several times, re-running in between) and
prints, for each, how long the cancel request took and when the job's status read
``cancelled``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--model", default="rife-4.6")
    ap.add_argument("--model-file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--after-frames", default="0,3,6,9",
                    help="cancel when this many output frames are written (0: as soon as it runs)")
    args = ap.parse_args()

    import httpx
    from _browserkit import LiveServer

    from fluidframes.options import ModelConfig
    from fluidframes.server.app import create_app
    from fluidframes.server.config import ServerConfig

    model = (ModelConfig(model_file=args.model_file, device="cpu", threads=args.threads)
             if args.model_file else
             ModelConfig(model=args.model, device="cpu", threads=args.threads))
    data = Path(tempfile.mkdtemp(prefix="ff-cancel-"))
    cfg = ServerConfig(data_dir=data, model=model)
    with LiveServer(create_app(cfg)) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        with open(args.video, "rb") as fh:
            r = http.post("/api/jobs", files={"file": (Path(args.video).name, fh, "video/mp4")},
                          data={"multi": "2"})
        r.raise_for_status()
        job = r.json()
        print(f"job {job['id']}: {job['source']['width']}x{job['source']['height']}, "
              f"{job['source']['frames']} frames, load {os.getloadavg()[0]:.1f}", flush=True)
        for n, after in enumerate(int(x) for x in args.after_frames.split(",")):
            if n:
                http.post(f"/api/jobs/{job['id']}/rerun").raise_for_status()
            while True:
                j = http.get(f"/api/jobs/{job['id']}").json()
                if j["status"] == "running" and j["progress"]["frames_out"] >= after:
                    break
                time.sleep(0.02)
            t0 = time.monotonic()
            answer = http.post(f"/api/jobs/{job['id']}/cancel").json()
            t_answer = time.monotonic() - t0
            while http.get(f"/api/jobs/{job['id']}").json()["status"] != "cancelled":
                time.sleep(0.01)
            t_state = time.monotonic() - t0
            print(f"cancel at {j['progress']['frames_out']} frames out "
                  f"({j['progress']['elapsed']:.1f} s into the run): answered in {t_answer:.2f} s "
                  f"({answer['status']}), status cancelled after {t_state:.2f} s; "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
