"""Spotting F1 of ``mmnet spot --method baseline`` on synthetic long videos whose
intervals are known.

    python benchmarks/spot_accuracy.py --seeds 100-111 --seconds 30
    python benchmarks/spot_accuracy.py --seeds 200-203 --width 640 --height 360

Each seed's video (:func:`tfds_builders.synthetic_me.long_video.make_video`: one micro-
expression per 5 s, one macro-expression per 10 s, a blink per 4 s) is written as mp4
(``mp4v``, as users' files are compressed) and read back by the same pipeline as the
command (:func:`mmnet_jax.vision.spotting.spot_video`). A predicted interval of a type is
a true positive when its IoU (frames, inclusive) with a ground-truth interval of that
type not matched yet reaches 0.5; F1 pooled over the videos, and per video. Synthetic
faces only: the figures say nothing of real data.
"""

from __future__ import annotations

import json
import pathlib
import sys
import tempfile
from collections.abc import Sequence

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from mmnet_jax import cli  # noqa: E402
from mmnet_jax.vision import spotting, tracking  # noqa: E402
from tfds_builders.synthetic_me import long_video  # noqa: E402


def seeds_from(text: str) -> list[int]:
    """``3,5,10-12`` -> [3, 5, 10, 11, 12]."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def measure(
    seeds: Sequence[int],
    seconds: float = 30.0,
    width: int = 128,
    height: int = 128,
    fps: float = 30.0,
    face_fraction: float | None = None,
    folder: str | pathlib.Path | None = None,
    spotter: spotting.Spotter | None = None,
) -> dict:
    """Per seed and pooled: TP, FP, FN and F1 for micro and macro intervals."""
    face_fraction = face_fraction or (0.75 if height <= 160 else 0.55)
    work = pathlib.Path(folder or tempfile.mkdtemp(prefix="spot_accuracy_"))
    totals = {"micro": np.zeros(3, int), "macro": np.zeros(3, int)}
    videos = []
    for seed in seeds:
        video = long_video.make_video(
            seed, seconds=seconds, fps=fps, width=width, height=height,
            micro=max(1, round(seconds / 5)), macro=max(1, round(seconds / 10)),
            face_fraction=face_fraction,
        )  # fmt: skip
        path = long_video.write_mp4(video, work / f"seed{seed}_{width}x{height}.mp4")
        result = spotting.spot_video(tracking.open_video(path), fps, spotter)
        row = {"seed": seed, "tracks": len(result.tracks)}
        for kind in ("micro", "macro"):
            predicted = [(iv.onset, iv.offset) for _, iv in result.intervals if iv.type == kind]
            truth = [(e.onset, e.offset) for e in video.ground_truth if e.type == kind]
            f1, tp, fp, fn = spotting._f1(predicted, truth)
            totals[kind] += (tp, fp, fn)
            row[kind] = {"f1": round(f1, 3), "tp": tp, "fp": fp, "fn": fn}
        videos.append(row)
        path.unlink()
    pooled = {}
    for kind, (tp, fp, fn) in totals.items():
        f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
        pooled[kind] = {"f1": round(f1, 3), "tp": int(tp), "fp": int(fp), "fn": int(fn)}
    used = spotter or spotting.BaselineSpotter()
    return {"videos": videos, "pooled": pooled, "seconds": seconds, "size": [width, height],
            "fps": fps, "parameters": spotting.parameters(used)}  # fmt: skip


def table(result: dict) -> str:
    lines = ["| seed | micro F1 (TP/FP/FN) | macro F1 (TP/FP/FN) |", "|---|---|---|"]
    for row in result["videos"] + [{"seed": "pooled", **result["pooled"]}]:
        cells = [f"{row[k]['f1']:.3f} ({row[k]['tp']}/{row[k]['fp']}/{row[k]['fn']})"
                 for k in ("micro", "macro")]  # fmt: skip
        lines.append(f"| {row['seed']} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("seeds", "100-111", "seeds: 3,5,10-12", flag_values=fv)
    flags.DEFINE_float("seconds", 30.0, "length of each video", lower_bound=5, flag_values=fv)
    flags.DEFINE_integer("width", 128, "frame width", lower_bound=48, flag_values=fv)
    flags.DEFINE_integer("height", 128, "frame height", lower_bound=48, flag_values=fv)
    flags.DEFINE_float("fps", 30.0, "frame rate", lower_bound=1, flag_values=fv)
    flags.DEFINE_string("json", None, "also write the result as JSON here", flag_values=fv)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    try:
        seeds = seeds_from(fv.seeds)
    except ValueError:
        cli.fail(f"--seeds {fv.seeds!r}: expected numbers and ranges such as 3,5,10-12")
    result = measure(seeds, fv.seconds, fv.width, fv.height, fv.fps)
    print(table(result))
    if fv.json:
        pathlib.Path(fv.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Print the spotting F1 table; returns the exit status."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
