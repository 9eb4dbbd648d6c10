"""predict and explain on a whole clip (a video or a frame folder) without onset or apex:
the face is aligned, the apex spotted, and the JSON says which frames were used."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mmnet_jax.inference import explain, inputs, predict
from mmnet_jax.training import checkpoints
from mmnet_jax.vision import faces
from tests.test_predict_export import CLASSES, CONFIG, random_model
from tfds_builders.synthetic_me import generator, long_video

SIDE = 128


def write_video(path: Path, rgb_frames: list[np.ndarray], fps: float = 25.0) -> Path:
    h, w = rgb_frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for frame in rgb_frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    root = tmp_path_factory.mktemp("video")
    model = random_model(CONFIG)
    workdir = root / "workdir"
    checkpoints.save_model_dir(workdir / "final_model", model, class_names=CLASSES, source="test")
    # Subject 0's first synthetic clip: a face dlib finds, a known apex, head drift,
    # lighting change and sensor noise.
    identity, specs = generator.plan_dataset(0, 1, 1)[0]
    spec = specs[0]
    numbers = list(range(spec.onset, spec.offset + 1))
    rgb = generator.render_frames(identity, spec, numbers, SIDE)
    folder = root / "frames"
    folder.mkdir()
    for n, frame in zip(numbers, rgb, strict=True):
        cv2.imwrite(str(folder / f"img{n:04d}.png"), frame[..., ::-1])
    blank = [np.full((SIDE, SIDE, 3), 120, np.uint8)] * 4
    return {
        "model": model,
        "workdir": workdir,
        "video": write_video(root / "clip.mp4", rgb),
        "no_face": write_video(root / "wall.mp4", blank),
        "folder": folder,
        "spec": spec,
        "true_apex_index": spec.apex - spec.onset,
        "root": root,
    }


def run(capsys, main, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_video_spots_the_apex(clip, capsys):
    code, out, err = run(
        capsys, predict.main, ["--workdir", clip["workdir"], "--video", clip["video"]]
    )
    assert code == 0, err
    (rec,) = json.loads(out)
    assert rec["id"] == "clip" and rec["video"] == str(clip["video"])
    assert rec["frames_read"] == clip["spec"].offset - clip["spec"].onset + 1
    assert rec["onset_frame"] == 0 and rec["onset_chosen"] == "first frame"
    assert rec["apex_chosen"].startswith("spotted (detrended)")
    # Through mp4v compression the spotted apex stays near the true one.
    assert abs(rec["apex_frame"] - clip["true_apex_index"]) <= 6, rec["apex_frame"]
    assert rec["face_alignment"]["face"]["method"] == "dlib-5"
    assert rec["class_names"] == CLASSES and len(rec["probabilities"]) == 3
    assert sum(rec["probabilities"]) == pytest.approx(1.0)
    assert rec["predicted_class"] == CLASSES[int(np.argmax(rec["probabilities"]))]
    assert f"onset frame 0 (first frame), apex frame {rec['apex_frame']}" in err
    # The prediction is the model's on the aligned onset and apex frames named.
    frames = inputs.read_video(clip["video"])
    crops, _ = faces.align_clip(frames)
    want = predict.predict_pairs(
        clip["model"], {"class_names": CLASSES}, [crops[0]], [crops[rec["apex_frame"]]]
    )[0]
    np.testing.assert_allclose(rec["logits"], want["logits"], rtol=1e-5, atol=1e-6)


def test_predict_video_with_frames_given(clip, capsys):
    argv = [
        "--workdir", clip["workdir"], "--video", clip["video"], "--onset_frame", 3,
        "--apex_frame", 40, "--noface_align", "--id", "mine",
    ]  # fmt: skip
    code, out, err = run(capsys, predict.main, argv)
    assert code == 0, err
    (rec,) = json.loads(out)
    assert rec["id"] == "mine" and rec["onset_frame"] == 3 and rec["apex_frame"] == 40
    assert rec["onset_chosen"] == "given (--onset_frame)"
    assert rec["apex_chosen"] == "given (--apex_frame)"
    assert rec["face_alignment"].startswith("off")


def test_predict_clip_dir_without_frames(clip, capsys):
    argv = ["--workdir", clip["workdir"], "--clip_dir", clip["folder"], "--apex_method", "middle"]
    code, out, err = run(capsys, predict.main, argv)
    assert code == 0, err
    (rec,) = json.loads(out)
    spec = clip["spec"]
    assert rec["clip_dir"] == str(clip["folder"]) and rec["onset_frame"] == spec.onset
    assert rec["apex_frame"] == (spec.onset + spec.offset) // 2
    assert rec["apex_chosen"].startswith("middle frame")
    assert rec["onset"].endswith(f"frame {spec.onset}")


def test_video_without_a_face_is_one_error_line(clip, capsys):
    code, out, err = run(
        capsys, predict.main, ["--workdir", clip["workdir"], "--video", clip["no_face"]]
    )
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"error: no face found in onset frame 0 of video {clip['no_face']} (use --noface_align "
        "if the frames are already face crops)"
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--video", "missing.mp4"], "error: video file not found: missing.mp4"),
        (["--video", "v.mp4", "--onset", "a.png"], "error: give the input pairs one way"),
        (["--video", "VIDEO", "--apex_frame", 9999], "error: --apex_frame 9999: video"),
    ],
)
def test_video_user_errors(clip, capsys, extra, message):
    extra = [clip["video"] if a == "VIDEO" else a for a in extra]
    code, out, err = run(capsys, predict.main, ["--workdir", clip["workdir"], *extra])
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines


def test_explain_video(clip, capsys, tmp_path):
    argv = ["--workdir", clip["workdir"], "--video", clip["video"], "--out", tmp_path]
    code, out, err = run(capsys, explain.main, argv)
    assert code == 0, err
    names = sorted(Path(p).name for p in out.split())
    assert names == sorted(
        ["clip_explain.png", "clip_motion.png"] + [f"clip_stage{k}.png" for k in range(1, 5)]
    )
    assert "apex frame" in err


# ---------------------------------------------------------------------------------------
# A video is cut at the end of its first face track.


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    """Two faces one after the other (a shot change at frame 60), and a video whose first
    face lasts 4 frames only."""
    root = tmp_path_factory.mktemp("shots")
    a = long_video.make_video(41, num_frames=60, micro=0, macro=0, blinks=0)
    b = long_video.make_video(42, num_frames=45, micro=0, macro=0, blinks=0)
    brief = long_video.make_video(43, num_frames=4, micro=0, macro=0, blinks=0)
    second = list(b.frames())
    return {
        "two": write_video(root / "two.mp4", list(a.frames()) + second, fps=30.0),
        "brief": write_video(root / "brief.mp4", list(brief.frames()) + second, fps=30.0),
    }


def test_predict_video_is_cut_at_the_shot_change(clip, shots, capsys):
    code, out, err = run(capsys, predict.main, ["--workdir", clip["workdir"], "--video",
                                                shots["two"]])  # fmt: skip
    assert code == 0, err
    (rec,) = json.loads(out)
    assert rec["frames_used"] == [0, 59] and rec["cut"] == "shot change at frame 60"
    assert rec["face_track"]["ended_by"] == "shot change at frame 60"
    assert rec["face_track"]["start"] == 0 and rec["face_track"]["end"] == 59
    assert rec["frames_read"] == 61  # reading stops at the first frame of the next shot
    assert rec["onset_frame"] == 0 and 0 < rec["apex_frame"] <= 59
    # Every key predict gave before is still there.
    for key in ("id", "video", "onset", "apex", "onset_frame", "onset_chosen", "apex_frame",
                "apex_chosen", "face_alignment", "class_names", "probabilities",
                "predicted_class", "predicted_index", "logits"):  # fmt: skip
        assert key in rec, key
    assert "frames 0..59 used: the face track ends there (shot change at frame 60)" in err

    # From an onset in the second shot, the second face's track is the clip.
    argv = ["--workdir", clip["workdir"], "--video", shots["two"], "--onset_frame", 70]
    code, out, err = run(capsys, predict.main, argv)
    assert code == 0, err
    (rec,) = json.loads(out)
    assert rec["frames_used"] == [70, 104] and rec["cut"] is None
    assert rec["face_track"]["ended_by"] == "end of video" and 70 < rec["apex_frame"] <= 104


@pytest.mark.parametrize(
    ("video", "extra", "message"),
    [
        ("brief", [], ["error: video {path}: the face track at frames 0..3 lasts 0.13 s "
         "(ended by face changed at frame 4", "shorter than 0.2 s: not a clip"]),
        ("two", ["--apex_frame", 80], ["error: --apex_frame 80: video {path}: the face track "
         "used covers frames 0..59 (cut: shot change at frame 60)"]),
    ],
)  # fmt: skip
def test_predict_video_track_errors(clip, shots, capsys, video, extra, message):
    path = shots[video]
    argv = ["--workdir", clip["workdir"], "--video", path, *extra]
    code, out, err = run(capsys, predict.main, argv)
    lines = err.strip().splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    for part in message:
        assert part.format(path=path) in lines[0], lines[0]
