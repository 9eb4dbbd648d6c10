"""`mmnet prepare`: builds, reuse and --overwrite, and each user mistake
answered with one `error:` line and its exit status (the real command, in process, on the
builders' dummy releases at 16 px)."""

import json
import shutil
import subprocess
import sys

import pytest

from mmnet_jax.data import prepare
from tfds_builders import me_common
from tfds_builders import testing as t
from tfds_builders.smic import smic_dataset_builder as smic

SMIC_VERSION = str(smic.Builder.VERSION)

SMALL = ["--image_size=16", "--frames_per_side=2"]


def run(capsys, *args):
    """Exit status, stdout and the stderr lines of one in-process run."""
    code = prepare.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err.strip().splitlines()


def errors(lines):
    return [line for line in lines if line.startswith("error:")]


def report_of(data_dir, dataset="smic", config="3class_16px_2f"):
    path = data_dir / dataset / config / SMIC_VERSION / me_common.REPORT_FILENAME
    return json.loads(path.read_text())


def test_help_shows_the_example_and_the_whole_description():
    done = subprocess.run(
        [sys.executable, "-m", "mmnet_jax", "prepare", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "mmnet prepare --dataset casme2/5class --manual_dir ~/data/CASME2" in out
    # The whole docstring, not its first line: the last sentence comes before the flags.
    assert "the options: docs/data.md and tfds_builders/README.md.\n\nflags:" in out
    for flag in ("--dataset", "--manual_dir", "--data_dir", "--image_size", "--frames_per_side"):
        assert flag in out
    assert "--[no]face_crop" in out and "--[no]strict" in out and "--[no]overwrite" in out
    assert "--[no]face_align" in out and "--apex_method: <detrended|middle|onset>" in out


def test_build_then_reuse_then_overwrite_from_changed_data(tmp_path, capsys):
    manual = t.copy_dummy_data("smic", tmp_path)
    data = tmp_path / "data"
    args = ["--dataset=smic/3class", f"--manual_dir={manual}", f"--data_dir={data}", *SMALL]

    code, out, err = run(capsys, *args)
    assert code == 0
    assert "smic/3class_16px_2f: 4 clips, 3 written" in out
    assert "skipped, missing frames: 1: s2/s2_ne_02" in out
    assert not [line for line in err if line.startswith(("note:", "error:"))]
    assert report_of(data)["counts"]["written"] == 3

    # The user fixes the release: the clip without frames is removed.
    shutil.rmtree(manual / "HS" / "s2" / "micro" / "negative" / "s2_ne_02")
    code, out, err = run(capsys, *args)
    assert code == 0
    version_dir = data / "smic" / "3class_16px_2f" / SMIC_VERSION
    assert [line for line in err if line.startswith("note:")] == [
        f"note: reusing the existing build in {version_dir} (made from {manual}); "
        "--overwrite rebuilds it from --manual_dir"
    ]
    assert "4 clips, 3 written" in out  # the old build, said to be reused
    assert report_of(data)["counts"]["clips"] == 4

    code, out, err = run(capsys, *args, "--overwrite")
    assert code == 0
    assert not [line for line in err if line.startswith(("note:", "error:"))]
    assert "smic/3class_16px_2f: 3 clips, 3 written (0 kept, 3 with an estimated apex), 0 " in out
    assert "missing frames" not in out
    assert report_of(data)["counts"] == {
        "clips": 3, "written": 3, "kept": 0, "estimated": 3, "skipped": 0, "excluded": 0
    }  # fmt: skip


def test_reuse_from_another_folder_says_so(tmp_path, capsys):
    data = tmp_path / "data"
    args = ["--dataset=smic/3class", f"--data_dir={data}", *SMALL]
    assert run(capsys, f"--manual_dir={t.dummy_data('smic')}", *args)[0] == 0
    other = t.copy_dummy_data("smic", tmp_path)
    code, _, err = run(capsys, f"--manual_dir={other}", *args)
    assert code == 0
    notes = [line for line in err if line.startswith("note:")]
    assert len(notes) == 1
    assert f"(made from {t.dummy_data('smic')}, not from --manual_dir)" in notes[0]


def test_strict_stops_at_a_bad_clip_with_status_3(tmp_path, capsys):
    args = [f"--manual_dir={t.dummy_data('smic')}", f"--data_dir={tmp_path / 'data'}"]
    code, _, err = run(capsys, "--dataset=smic/3class", "--image_size=8", "--strict", *args)
    assert code == prepare.EXIT_BAD_CLIP == 4
    # TFDS's progress bars come first (stderr); the error is the one last line.
    clip_dir = t.dummy_data("smic") / "HS" / "s2" / "micro" / "negative" / "s2_ne_02"
    assert (
        errors(err)
        == [err[-1]]
        == [
            f"error: strict mode: clip s2/s2_ne_02 ({clip_dir}): missing frames: "
            f"no image files in {clip_dir}"
        ]
    )


@pytest.mark.parametrize("state", ["missing", "empty", "file"])
def test_manual_dir_missing_or_empty(tmp_path, capsys, state):
    manual = tmp_path / "CASME2"
    if state == "empty":
        manual.mkdir()
    elif state == "file":
        manual.write_text("not a folder")
    code, out, err = run(
        capsys, "--dataset=casme2/5class", f"--manual_dir={manual}", f"--data_dir={tmp_path}/d"
    )
    assert code == 2 and out == ""
    what = {"missing": "no such folder", "empty": "the folder is empty", "file": "not a folder"}
    assert err == [
        f"error: --manual_dir {manual}: {what[state]}; casme2 expects the annotation sheet "
        "CASME2-coding-20190701.xlsx (or CASME2-coding-20140508.xlsx, "
        "CASME2-coding-updated.xlsx) and frames laid out as Cropped/sub01/EP02_01f/reg_img46.jpg"
    ]
    assert not (tmp_path / "d").exists()


def test_manual_dir_without_the_sheet(tmp_path, capsys):
    (tmp_path / "manual" / "notes").mkdir(parents=True)
    args = [f"--manual_dir={tmp_path / 'manual'}", f"--data_dir={tmp_path / 'data'}"]
    code, _, err = run(capsys, "--dataset=casme2/5class", *args)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: CASME II: no annotation sheet found in {tmp_path / 'manual'}")
    assert "CASME2-coding-20190701.xlsx" in err[0]


def test_sheet_that_is_not_a_spreadsheet(tmp_path, capsys):
    manual = t.copy_dummy_data("casme2", tmp_path)
    (sheet,) = manual.rglob("CASME2-coding-*.xlsx")
    sheet.write_text("Subject,Filename,OnsetFrame\n01,EP02_01f,46\n")  # a CSV under the name
    code, _, err = run(
        capsys, "--dataset=casme2/5class", f"--manual_dir={manual}", f"--data_dir={tmp_path}/d"
    )
    assert code == 2
    assert err == [
        f"error: CASME II: {sheet} is not an .xlsx spreadsheet (File is not a zip file); "
        "save the release's sheet as .xlsx under that name"
    ]


def test_unknown_dataset_names_the_known_builders(tmp_path, capsys):
    args = [f"--manual_dir={t.dummy_data('smic')}", f"--data_dir={tmp_path}"]
    code, _, err = run(capsys, "--dataset=casme/5class", *args)
    assert code == 2
    assert err == [
        "error: --dataset casme/5class: unknown dataset; prepare builds "
        "casme2/{5class,3class}; samm/{5class,3class}; mmew/{4class}; "
        "casme3/{4class,3class,7class}; smic/{3class}; megc2019/{3class,3class_sheets}; "
        "flow_images/{3class}; casme2_lv/{default}; samm_lv/{default}"
    ]  # not TFDS's catalogue of every dataset it knows
    code, _, err = run(capsys, "--dataset=casme2/6class", *args)
    assert code == 2
    assert err == [
        "error: --dataset casme2/6class: casme2 has no config '6class'; known: 5class, 3class"
    ]


def test_bad_flag_values(tmp_path, capsys):
    args = ["--dataset=smic/3class", f"--manual_dir={t.dummy_data('smic')}"]
    code, _, err = run(capsys, *args, f"--data_dir={tmp_path}", "--image_size=4")
    assert code == 2 and len(err) == 1 and "--image_size=4" in err[0]
    code, _, err = run(capsys, *args)
    assert code == 2 and len(err) == 1 and "--data_dir" in err[0]
    (tmp_path / "afile").write_text("")
    code, _, err = run(capsys, *args, f"--data_dir={tmp_path / 'afile'}")
    assert err == [f"error: --data_dir {tmp_path / 'afile'}: is a file, not a folder"]


def test_no_clip_built(tmp_path, capsys):
    manual = t.copy_dummy_data("smic", tmp_path)
    for frame in (manual / "HS").rglob("*.*"):
        frame.unlink()  # clip folders without frames
    args = [f"--manual_dir={manual}", f"--data_dir={tmp_path}/d", *SMALL]
    code, out, err = run(capsys, "--dataset=smic/3class", *args)
    assert code == 2
    assert (
        errors(err)
        == [err[-1]]
        == ["error: smic/3class_16px_2f: no clip could be built; the summary above says why"]
    )
    assert "skipped, missing frames: 4:" in out


def test_apex_method_and_face_align_flags(tmp_path, capsys):
    args = [f"--manual_dir={t.dummy_data('smic')}", f"--data_dir={tmp_path / 'data'}", *SMALL]
    code, out, err = run(capsys, "--dataset=smic/3class", "--apex-method=detrended", *args)
    assert code == 0, err
    assert "smic/3class_16px_2f_detrendedapex: 4 clips, 3 written" in out
    assert "  frames: full frame 3, apex " in out
    report = report_of(tmp_path / "data", config="3class_16px_2f_detrendedapex")
    assert report["preparation"]["apex_method"] == "detrended"
    assert sum(report["preparation"]["apex"].values()) == 3

    code, out, err = run(capsys, "--dataset=smic/3class", "--face_align", "--noface_crop", *args)
    assert code == 2 and out == ""
    assert err == ["error: --face_align crops the face: it cannot go with --noface_crop"]


def test_long_videos_build_resume_from_their_cache_and_refuse_clip_flags(tmp_path, capsys):
    data = tmp_path / "data"
    args = [
        "--dataset=casme2_lv",
        f"--manual_dir={t.dummy_data('casme2_lv')}",
        f"--data_dir={data}",
    ]
    code, out, err = run(capsys, *args, "--image_size=16", "--face_every=10")
    assert code == 0, err
    assert (
        "casme2_lv/default_16px_face10: 6 videos, 4 written, 1 skipped, 1 excluded; "
        "12 intervals, 7 written (1 with an estimated offset), 5 skipped"
    ) in out
    assert "video skipped, frames folder not found: 1: s16/0502" in out
    assert "cache: 0 videos reused, 4 made" in out
    # --overwrite rebuilds the records; the prepared videos come from the cache.
    code, out, _ = run(capsys, *args, "--image_size=16", "--face_every=10", "--overwrite")
    assert code == 0 and "cache: 4 videos reused, 0 made" in out
    code, _, err = run(capsys, *args, "--image_size=16", "--strict")
    assert code == prepare.EXIT_BAD_CLIP
    assert errors(err) == [err[-1]] and "strict mode: interval 4/disgust1_1" in err[-1]
    takes = "--image_size, --grayscale, --face_crop, --face_align, --face_every"
    for flag in ("--frames_per_side=3", "--apex_method=detrended", "--flow=28"):
        code, _, err = run(capsys, *args, flag)
        name = flag[2:].split("=")[0]
        assert (code, err) == (
            2, [f"error: --{name}: casme2_lv takes no such option (it takes {takes})"]
        )  # fmt: skip
    smic_args = ["--dataset=smic/3class", f"--manual_dir={t.dummy_data('smic')}"]
    code, _, err = run(capsys, *smic_args, f"--data_dir={data}", "--nograyscale")
    assert code == 2 and len(err) == 1
    assert err[0].startswith("error: --grayscale: smic takes no such option (it takes --image_size")
