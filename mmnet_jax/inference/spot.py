"""Spot micro- and macro-expressions in a long video, without training.

Example:

    mmnet spot --video interview.mp4 --out spots.csv --plot timeline.png

    mmnet spot --frames_dir FRAMES/ --fps 30 --out spots.csv

The video is read frame by frame (never all in memory); the largest face is tracked
(detection every quarter second, template tracking between; a shot change or a lost face
ends a track) and each track is scored by the training-free baseline spotter
(mmnet_jax/vision/spotting.py: the face against the rest face of the three seconds
around it, eyes left out, per track threshold mean + p (max - mean)). Writes --out, a CSV
with one row per interval: subject,video,track,onset,apex,offset,type,score,onset_s,
offset_s (frames counted from 0 over the frames read; type micro when the interval lasts
at most 0.5 s, else macro), and a JSON sidecar (--out with .json) naming the tracks,
why each ended, the frames without a tracked face, the parameters and the time per stage.
Prints one summary line. More in docs/spotting_long_videos.md.
"""

from __future__ import annotations

import csv
import json
import pathlib
import sys
import time
from collections.abc import Sequence

from absl import flags

from mmnet_jax import cli
from mmnet_jax.vision import faces, spotting, tracking

CSV_COLUMNS = (
    "subject", "video", "track", "onset", "apex", "offset", "type", "score", "onset_s",
    "offset_s",
)  # fmt: skip
METHODS = ("baseline",)


def _define(fv: flags.FlagValues) -> None:
    flags.DEFINE_string("video", None, "video file (any OpenCV can read)", flag_values=fv)
    flags.DEFINE_string(
        "frames_dir", None, "folder of numbered frame files, in the order of their numbers "
        "(needs --fps)", flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_float(
        "fps", None, "frame rate (default: the video's own; required with --frames_dir)",
        lower_bound=1e-3, flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_enum("method", "baseline", list(METHODS), "spotter: baseline (training-free)",
                      flag_values=fv)  # fmt: skip
    flags.DEFINE_string("out", None, "CSV file to write; required", flag_values=fv)
    flags.DEFINE_string("subject", None, "subject column (default: the file's stem)",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_string("video_id", None, "video column (default: the file's stem)",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_string("plot", None, "PNG timeline to draw: scores, thresholds, intervals",
                        flag_values=fv)  # fmt: skip
    flags.DEFINE_enum(
        "face_backend", "auto", list(faces.BACKENDS), "face detector: dlib (the faces "
        "extra), haar (OpenCV), or auto (dlib, then Haar where dlib finds none)",
        flag_values=fv,
    )  # fmt: skip
    flags.DEFINE_float(
        "p", None, "threshold = mean + p (max - mean) of a track's scores (default: the "
        "spotter's)", lower_bound=0.0, upper_bound=1.0, flag_values=fv,
    )  # fmt: skip


def _source(fv: flags.FlagValues) -> tuple[tracking.FrameSource, float, str]:
    """The frames to read, the frame rate and where it came from."""
    if (fv.video is None) == (fv.frames_dir is None):
        cli.fail("give the input one way: --video V.mp4, or --frames_dir DIR --fps F")
    try:
        if fv.video is not None:
            source = tracking.open_video(fv.video)
        else:
            source = tracking.open_frames_dir(fv.frames_dir)
    except tracking.VideoError as e:
        cli.fail(str(e))
    if fv.fps is not None:
        return source, float(fv.fps), "--fps"
    if source.kind == "frames":
        cli.fail(f"--frames_dir {fv.frames_dir}: a folder of frames has no frame rate: "
                 "give --fps")  # fmt: skip
    if source.fps is None:
        cli.fail(f"video {fv.video} reports no frame rate: give --fps")
    return source, float(source.fps), "video"


def write_csv(path: pathlib.Path, result: spotting.VideoSpots, subject: str, video: str):
    """The intervals as CSV (:data:`CSV_COLUMNS`), in time order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(CSV_COLUMNS)
        for track, iv in sorted(result.intervals, key=lambda p: (p[1].onset, p[0])):
            out.writerow([
                subject, video, track, iv.onset, iv.apex, iv.offset, iv.type,
                f"{iv.score:.4f}", f"{iv.onset / result.fps:.4f}",
                f"{iv.offset / result.fps:.4f}",
            ])  # fmt: skip


def _ranges(runs: list[tuple[int, int]]) -> str:
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in runs)


def plot_timeline(path: pathlib.Path, result: spotting.VideoSpots, title: str) -> None:
    """Each track's score curve and threshold, the intervals (micro red, macro blue) and
    the frames without a tracked face (grey), against the video's frame numbers."""
    import matplotlib  # noqa: PLC0415 - only to draw

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    fig = Figure(figsize=(max(8.0, min(40.0, result.frames_read / 60)), 3.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for spots in result.tracks:
        t = spots.track
        frames = range(t.start, t.start + len(spots.scores))
        (line,) = ax.plot(frames, spots.scores, lw=0.8, label=f"track {t.id}")
        ax.hlines(spots.threshold, t.start, t.stop - 1, colors=line.get_color(), lw=0.8,
                  linestyles="dashed")  # fmt: skip
        for iv in spots.intervals:
            ax.axvspan(iv.onset, iv.offset + 1, color="tab:red" if iv.type == "micro"
                       else "tab:blue", alpha=0.25, lw=0)  # fmt: skip
    for a, b in result.untracked:
        ax.axvspan(a, b + 1, color="0.8", alpha=0.6, lw=0)
    ax.set_xlim(0, max(1, result.frames_read))
    ax.set_xlabel(f"frame (from 0, {result.fps:g} fps)")
    ax.set_ylabel("score")
    ax.set_title(f"{title}: micro red, macro blue, threshold dashed, no face grey", fontsize=9)
    if result.tracks:
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path), dpi=100)


def _body(fv: flags.FlagValues, positional: list[str]) -> int:
    cli.no_positional(positional)
    if not fv.out:
        cli.fail("--out is required: the CSV file to write")
    source, fps, fps_from = _source(fv)
    params = {} if fv.p is None else {"p": fv.p}
    spotter = spotting.make_spotter(fv.method, **params)
    if fv.face_backend == "dlib" and not faces.dlib_available():
        cli.fail('--face_backend dlib needs the faces extra (dlib-bin and '
                 'face-recognition-models): pip install "mmnet_jax[faces]"')  # fmt: skip
    try:
        start = time.perf_counter()
        result = spotting.spot_video(source, fps, spotter, backend=fv.face_backend)
        wall = time.perf_counter() - start
    except (tracking.VideoError, faces.BackendUnavailable) as e:
        cli.fail(str(e))
    what = f"video {source.path}" if source.kind == "video" else f"frames folder {source.path}"
    if result.frames_read == 0:
        cli.fail(f"no frame could be decoded from {what}")
    if not result.tracks:
        cli.fail(f"no face found in any of the {result.frames_read} frames of {what}")

    stem = source.path.stem if source.kind == "video" else source.path.name
    subject, video = fv.subject or stem, fv.video_id or stem
    out = pathlib.Path(fv.out)
    write_csv(out, result, subject, video)
    timings = {"decode": source.decode_seconds, **result.timings}
    micro = sum(iv.type == "micro" for _, iv in result.intervals)
    macro = len(result.intervals) - micro
    sidecar = out.with_suffix(".json")
    summary = {
        "source": str(source.path),
        "kind": source.kind,
        "subject": subject,
        "video": video,
        "fps": fps,
        "fps_from": fps_from,
        "frames_read": result.frames_read,
        "method": spotter.name,
        "parameters": spotting.parameters(spotter),
        "face_backend": faces.resolve_backend(fv.face_backend),
        "tracks": [
            {
                **s.track.describe(fps),
                "threshold": round(s.threshold, 4),
                "micro": sum(iv.type == "micro" for iv in s.intervals),
                "macro": sum(iv.type == "macro" for iv in s.intervals),
            }
            for s in result.tracks
        ],  # fmt: skip
        "untracked_frames": [list(r) for r in result.untracked],
        "untracked_count": sum(b - a + 1 for a, b in result.untracked),
        "shot_changes": result.shot_changes,
        "intervals": {"micro": micro, "macro": macro},
        "csv": str(out),
        "seconds": {k: round(v, 4) for k, v in timings.items()} | {"wall": round(wall, 4)},
        "frames_per_second": round(result.frames_read / wall, 2) if wall > 0 else None,
    }
    sidecar.write_text(json.dumps(summary, indent=2) + "\n")
    if fv.plot:
        plot_timeline(pathlib.Path(fv.plot), result, f"{video} ({spotter.name})")
    untracked = (
        f"; no tracked face in frames {_ranges(result.untracked)}" if result.untracked else ""
    )
    print(
        f"{out}: {micro} micro, {macro} macro in {len(result.tracks)} face track"
        f"{'s' if len(result.tracks) != 1 else ''} over {result.frames_read} frames at "
        f"{fps:g} fps{untracked} ({sidecar})"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command; returns the exit status (0 ok, 2 user error with one line, 130)."""
    return cli.run(__doc__, _define, _body, argv)


if __name__ == "__main__":
    sys.exit(main())
