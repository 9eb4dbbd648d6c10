"""Spotting in long videos: face tracking through a lost face and a shot change, the
training-free spotter on a synthetic video with known intervals, and ``mmnet spot``
end to end (in-process) with its error lines."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from mmnet_jax import commands
from mmnet_jax.inference import spot
from mmnet_jax.vision import spotting, tracking
from tfds_builders.synthetic_me import long_video as lv

# Shot A: 7 s with a stretch without a face (frames 90-119); shot B: 4 s. 96 px frames.
ABSENT = (90, 120)
SHOT = 210
SIDE = 96


@pytest.fixture(scope="module")
def long(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    a = lv.make_video(31, seconds=7, micro=3, macro=1, absent=[ABSENT], width=SIDE, height=SIDE)
    b = lv.make_video(32, seconds=4, micro=2, macro=0, width=SIDE, height=SIDE)
    video = lv.concatenate([a, b])
    frames = list(video.frames())  # drawn once (the writers draw again)
    path = root / "interview.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (SIDE, SIDE))
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    folder = root / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames[SHOT:]):
        cv2.imwrite(str(folder / f"img{i:05d}.png"), np.ascontiguousarray(frame[..., ::-1]))
    out = root / "spots.csv"
    argv = ["--video", path, "--out", out, "--plot", root / "timeline.png"]
    code = spot.main([str(x) for x in argv])
    assert code == 0
    return {"video": video, "mp4": path, "root": root, "csv": out, "shot_b": b, "frames": folder}


def _f1_micro(rows: list[tuple[int, int]], video) -> float:
    truth = [(e.onset, e.offset) for e in video.ground_truth if e.type == "micro"]
    return spotting._f1(rows, truth)[0]


# ---------------------------------------------------------------------------- tracking


def test_tracking_through_a_lost_face_and_a_shot_change(long):
    video, fps = long["video"], long["video"].fps
    tracker = tracking.FaceTracker(fps)
    records = list(tracking.track_faces(tracking.open_video(long["mp4"]), fps, tracker))
    assert len(records) == video.num_frames and [r.frame for r in records[:3]] == [0, 1, 2]
    first, back, second = tracker.tracks
    assert (first.start, first.stop) == (0, ABSENT[0])
    assert first.end.startswith(f"face lost at frame {ABSENT[0]}")
    # The face is found again at the next detection after it comes back.
    assert ABSENT[1] <= back.start <= ABSENT[1] + tracker.detect_every
    assert back.stop == SHOT and back.end == f"shot change at frame {SHOT}"
    assert (second.start, second.stop, second.end) == (SHOT, video.num_frames, "end of video")
    assert tracker.shot_changes == [SHOT]
    assert tracking.untracked_ranges(records) == [(ABSENT[0], back.start - 1)]
    # The box follows the drifting head: its offset from the true centre stays put.
    shot_a = video.videos[0]
    offsets = np.array([
        [(r.box[0] + r.box[2]) / 2 - shot_a.pose(r.frame)[0],
         (r.box[1] + r.box[3]) / 2 - shot_a.pose(r.frame)[1]]
        for r in records[: ABSENT[0]]
    ])  # fmt: skip
    assert offsets.std(axis=0).max() < 0.5, offsets.std(axis=0)
    crop = records[10].crop
    assert crop.shape == (64, 64) and crop.dtype == np.uint8
    assert first.eyes is not None and first.eyes[0][0] < first.eyes[1][0]


def test_frames_folder_reads_in_frame_number_order(tmp_path):
    short = lv.make_video(5, num_frames=12, micro=0, macro=0, blinks=0)
    for i, frame in enumerate(short.frames()):  # numbers with gaps, not zero-padded
        cv2.imwrite(str(tmp_path / f"f{3 * i + 7}.png"), frame[..., ::-1])
    (tmp_path / "notes.txt").write_text("not a frame")
    source = tracking.open_frames_dir(tmp_path)
    assert source.fps is None and source.reported_frames == 12
    frames = list(source)
    np.testing.assert_array_equal(frames[10], short.frame(10))
    assert source.frames_read == 12
    with pytest.raises(tracking.VideoError, match="frames folder not found"):
        tracking.open_frames_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(tracking.VideoError, match="no numbered image files"):
        tracking.open_frames_dir(tmp_path / "empty")


# ---------------------------------------------------------------------------- the spotter


def _bump(n: int, start: int, length: int, height: float) -> np.ndarray:
    """A raised-cosine rise and fall over ``length`` frames from ``start``."""
    x = np.zeros(n)
    t = np.arange(length)
    x[start : start + length] = height * 0.5 * (1 - np.cos(2 * np.pi * (t + 0.5) / length))
    return x


def test_intervals_from_scores_durations_and_types():
    fps, n = 30.0, 600
    rng = np.random.default_rng(0)
    scores = 1 + 0.05 * rng.standard_normal(n)
    truth = {"micro": [(50, 9, 3.0), (300, 13, 5.0)], "macro": [(150, 45, 12.0)]}
    for starts in truth.values():
        for start, length, height in starts:
            scores += _bump(n, start, length, height)
    scores += _bump(n, 450, 4, 4.0)  # a blink-short bump: too short for an expression
    spotter = spotting.BaselineSpotter()
    found = spotter.intervals(scores, fps)
    assert [iv.type for iv in found] == ["micro", "macro", "micro"]
    for iv, (start, length, _) in zip(found, [truth["micro"][0], truth["macro"][0],
                                              truth["micro"][1]], strict=True):  # fmt: skip
        assert spotting._iou((iv.onset, iv.offset), (start, start + length - 1)) >= 0.7, iv
        assert iv.onset <= iv.apex <= iv.offset and iv.score == scores[iv.apex]
    # The macro-expression's height does not hide the small micro-expression: with p = 0.3
    # one threshold over all frames would miss it, the rounds (macro set aside) do not.
    strict = spotting.BaselineSpotter(p=0.3)
    assert strict._level(scores) > scores[50:59].max()  # the first round's threshold
    assert strict.threshold(scores, fps) < scores[50:59].max()  # the last round's
    assert [iv.type for iv in strict.intervals(scores, fps)] == ["micro", "macro", "micro"]
    # A track without expressions gives nothing.
    assert spotter.intervals(1 + 0.05 * rng.standard_normal(n), fps) == []
    onset, apex, offset, score = found[0]  # an interval unpacks as a 4-tuple
    assert (onset, apex, offset, score) == (found[0].onset, found[0].apex, found[0].offset,
                                            found[0].score)  # fmt: skip
    assert spotting.interval_type(0, 14, 30) == "micro" and spotting.interval_type(0, 15, 30) == (
        "macro"
    )


def test_iou_and_f1_helpers():
    assert spotting._iou((0, 9), (5, 14)) == pytest.approx(5 / 15)
    assert spotting._iou((0, 9), (10, 19)) == 0
    f1, tp, fp, fn = spotting._f1([(0, 9), (5, 14), (40, 49)], [(0, 9), (42, 52)])
    # (5, 14) cannot match (0, 9) a second time.
    assert (tp, fp, fn) == (2, 1, 0) and f1 == pytest.approx(0.8)


def test_spotter_finds_the_micro_expressions(long):
    rows = list(csv.DictReader(long["csv"].open()))
    assert rows and list(rows[0]) == list(spot.CSV_COLUMNS)
    micro = [(int(r["onset"]), int(r["offset"])) for r in rows if r["type"] == "micro"]
    assert _f1_micro(micro, long["video"]) >= 0.5, (micro, long["video"].ground_truth)
    # Intervals do not straddle the stretch without a face.
    for r in rows:
        onset, apex, offset = int(r["onset"]), int(r["apex"]), int(r["offset"])
        assert onset <= apex <= offset
        assert offset < ABSENT[0] or onset >= ABSENT[1]
        assert float(r["onset_s"]) == pytest.approx(onset / 30, abs=1e-4)
        assert (offset - onset + 1) / 30 <= 0.5 + 1e-9 if r["type"] == "micro" else True


# ---------------------------------------------------------------------------- mmnet spot


def test_spot_command_outputs(long, capsys):
    rows = list(csv.DictReader(long["csv"].open()))
    assert {r["subject"] for r in rows} == {"interview"} == {r["video"] for r in rows}
    assert {r["track"] for r in rows} <= {"0", "1", "2"}
    sidecar = json.loads(long["csv"].with_suffix(".json").read_text())
    assert sidecar["fps"] == 30 and sidecar["fps_from"] == "video"
    assert sidecar["frames_read"] == long["video"].num_frames
    (a, b), = sidecar["untracked_frames"]  # fmt: skip
    assert a == ABSENT[0] and ABSENT[1] - 1 <= b <= ABSENT[1] + 8
    assert [t["ended_by"].split(" at ")[0] for t in sidecar["tracks"]] == [
        "face lost", "shot change", "end of video",
    ]  # fmt: skip
    assert sidecar["shot_changes"] == [SHOT] and sidecar["method"] == "baseline"
    assert set(sidecar["seconds"]) >= {"decode", "detect", "track", "align", "score", "wall"}
    image = cv2.imread(str(long["root"] / "timeline.png"))
    assert image is not None and image.shape[1] > 600

    # Frames folder, named columns, the front door.
    out = long["root"] / "b.csv"
    argv = ["spot", "--frames_dir", long["frames"], "--fps", 30, "--out", out, "--subject", "s07",
            "--video_id", "task2"]  # fmt: skip
    assert commands.main([str(x) for x in argv]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"{out}: ") and "in 1 face track over 120 frames at 30 fps" in line
    rows = list(csv.DictReader(out.open()))
    assert rows and {(r["subject"], r["video"], r["track"]) for r in rows} == {
        ("s07", "task2", "0")
    }
    micro = [(int(r["onset"]), int(r["offset"])) for r in rows if r["type"] == "micro"]
    assert _f1_micro(micro, long["shot_b"]) >= 0.5


def _error(capsys, argv) -> str:
    code = spot.main([str(x) for x in argv])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and out == "", (code, out, err)
    return lines[0]


def test_spot_error_lines(long, capsys, tmp_path, monkeypatch):
    out = ["--out", tmp_path / "s.csv"]
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    blank = tmp_path / "wall.mp4"
    writer = cv2.VideoWriter(str(blank), cv2.VideoWriter_fourcc(*"mp4v"), 30, (96, 96))
    for _ in range(20):
        writer.write(np.full((96, 96, 3), 120, np.uint8))
    writer.release()
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "1.png"), np.zeros((8, 8, 3), np.uint8))
    cases = {
        "error: video file not found: missing.mp4": ["--video", "missing.mp4", *out],
        f"error: cannot open video {junk}": ["--video", junk, *out],
        f"error: no face found in any of the 20 frames of video {blank}":
            ["--video", blank, *out],
        f"error: --frames_dir {frames}: a folder of frames has no frame rate: give --fps":
            ["--frames_dir", frames, *out],
        "error: give the input one way": ["--video", blank, "--frames_dir", frames, *out],
        "error: --out is required": ["--video", blank],
        "error: flag --method=learned": ["--video", blank, "--method", "learned", *out],
    }  # fmt: skip
    for message, argv in cases.items():
        assert _error(capsys, argv).startswith(message), message

    # A video that reports no frame rate (OpenCV says 0) needs --fps.
    real = tracking.open_video

    def no_rate(path):
        source = real(path)
        source.fps = None
        return source

    monkeypatch.setattr(tracking, "open_video", no_rate)
    line = _error(capsys, ["--video", long["mp4"], *out])
    assert line == f"error: video {long['mp4']} reports no frame rate: give --fps"
