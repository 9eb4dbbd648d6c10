"""Speed of ``mmnet spot --method baseline`` per stage, in frames per second.

    python benchmarks/spot_speed.py --video_dir /tmp/spot_speed      # 1 min, 640x360, 30 fps

Generates (once: it is kept in --video_dir and reused) a synthetic long video
(:mod:`tfds_builders.synthetic_me.long_video`: 60 s at 30 fps, 640x360, mp4v), runs the
command on it in this process and reads the time per stage from its JSON sidecar:
``decode`` (OpenCV reading the mp4 to RGB), ``detect`` (the face detector every quarter
second, and the landmarks once per track), ``track`` (template tracking and the shot-
change histogram, every frame), ``align`` (cutting the aligned 64 px crop), ``score``
(the baseline spotter over each track, thresholds and intervals). Each figure is
frames / seconds of that stage; ``whole`` is frames / the command's wall time (reading
and writing included). Real time is the video's 30 fps. The machine's load average is
printed with the figures: other processes slow every stage.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import sys
import tempfile
import time
from collections.abc import Sequence

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from absl import flags  # noqa: E402

from mmnet_jax import cli  # noqa: E402
from mmnet_jax.inference import spot  # noqa: E402
from tfds_builders.synthetic_me import long_video  # noqa: E402

STAGES = ("decode", "detect", "track", "align", "score")


def make_video(folder: pathlib.Path, seconds: float, width: int, height: int, fps: float,
               seed: int) -> tuple[pathlib.Path, float]:  # fmt: skip
    """The benchmark's video (kept and reused), and the seconds it took to draw (0 when
    reused)."""
    path = folder / f"spot_speed_seed{seed}_{width}x{height}_{fps:g}fps_{seconds:g}s.mp4"
    if path.exists():
        return path, 0.0
    start = time.perf_counter()
    video = long_video.make_video(
        seed, seconds=seconds, fps=fps, width=width, height=height,
        micro=max(1, round(seconds / 5)), macro=max(1, round(seconds / 10)), face_fraction=0.55,
    )  # fmt: skip
    partial = path.with_suffix(".partial.mp4")
    long_video.write_mp4(video, partial)
    partial.rename(path)
    return path, time.perf_counter() - start


def measure(video: pathlib.Path, out: pathlib.Path) -> dict:
    """Run ``mmnet spot`` on ``video``; frames per second per stage."""
    argv = ["--video", str(video), "--method", "baseline", "--out", str(out / "spots.csv")]
    load_before = os.getloadavg()[0]
    code = spot.main(argv)
    if code != 0:
        raise RuntimeError(f"mmnet spot exited with {code}")
    summary = json.loads((out / "spots.json").read_text())
    frames = summary["frames_read"]
    seconds = summary["seconds"]
    fps = {stage: round(frames / seconds[stage], 1) if seconds[stage] else None
           for stage in STAGES}  # fmt: skip
    fps["whole"] = round(frames / seconds["wall"], 1)
    return {
        "frames": frames,
        "video_fps": summary["fps"],
        "seconds": seconds,
        "frames_per_second": fps,
        "realtime_factor": round(fps["whole"] / summary["fps"], 2),
        "tracks": len(summary["tracks"]),
        "intervals": summary["intervals"],
        "face_backend": summary["face_backend"],
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
    }


def table(result: dict) -> str:
    fps = result["frames_per_second"]
    lines = ["| stage | seconds | frames per second |", "|---|---|---|"]
    for stage in (*STAGES, "wall"):
        key = "whole" if stage == "wall" else stage
        lines.append(f"| {stage} | {result['seconds'][stage]:.2f} | {fps[key]} |")
    return "\n".join(lines)


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("video_dir", None, "folder to keep the generated video in (default: "
                        "a temporary folder)", flag_values=fv)  # fmt: skip
    flags.DEFINE_float("seconds", 60.0, "video length", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("width", 640, "frame width", lower_bound=48, flag_values=fv)
    flags.DEFINE_integer("height", 360, "frame height", lower_bound=48, flag_values=fv)
    flags.DEFINE_float("fps", 30.0, "frame rate", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("seed", 7, "generator seed", lower_bound=0, flag_values=fv)
    flags.DEFINE_string("json", None, "also write the result as JSON here", flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    folder = pathlib.Path(fv.video_dir or tempfile.mkdtemp(prefix="spot_speed_"))
    if folder.exists() and not folder.is_dir():
        cli.fail(f"--video_dir {folder} is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    video, drawn = make_video(folder, fv.seconds, fv.width, fv.height, fv.fps, fv.seed)
    with tempfile.TemporaryDirectory() as out:
        result = measure(video, pathlib.Path(out))
    result["video"] = str(video)
    result["draw_seconds"] = round(drawn, 1)
    print(table(result))
    print(f"real time x{result['realtime_factor']} ({result['machine']}, load average "
          f"{result['load_average']})")  # fmt: skip
    if fv.json:
        pathlib.Path(fv.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Print the per-stage speed of mmnet spot; returns the exit status."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
