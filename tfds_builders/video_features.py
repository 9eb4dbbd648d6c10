"""The record layout of the long-video builders (spotting): one record per long video.

- ``id``: ``"<subject>/<video code>"`` (also the example key): ``s15/0401`` (CAS(ME)^2),
  ``006/006_1`` (SAMM Long Videos).
- ``subject`` (text, as the release writes it: ``s15``, ``006``), ``video`` (the frame
  folder's name: ``15_0401girlcrashing``, ``006_1``), ``video_code`` (``0401``,
  ``006_1``), ``source`` (``casme2_lv``, ``samm_lv``).
- ``fps``: the release's frame rate; ``num_frames``: frame files in the video's folder.
- ``frames``: every frame of the video in frame-number order, the face aligned (see
  ``face_alignment``) and resized to ``image_size`` square, grey (1 channel) or RGB,
  PNG-encoded (``clip_features.encode_png``; lossless: spotting reads motion of a few
  grey levels, which JPEG noise would drown).
- ``frame_numbers``: the release's frame number of each stored frame (the numbers the
  sheet's onsets and offsets use).
- ``face_alignment``: JSON text, how the frames were cropped: ``{"mode": "aligned" |
  "box" | "full frame", ...}`` (:mod:`tfds_builders.me_common.video_frames`).
- ``intervals``: the sheet's expression intervals of the video, in sheet order (the
  order the public STRS scorer matches in): ``name`` (the sheet's name of the interval:
  ``anger1_1``, ``006_1_2``), ``onset``, ``apex`` (-1: not annotated), ``offset`` (the
  interval's last frame; estimated when ``offset_estimated``), ``type`` (``micro`` or
  ``macro``) and ``type_raw`` (as written: ``Micro - 1/2``), ``action_units`` (the cell
  as written), ``aus`` (the FACS codes it names, normalised: ``R6+R12+R15``) and
  ``aus_uncertain`` (the cell offers alternatives or doubts: ``14or23``, ``12B ?``),
  ``emotion`` (normalised; empty where the release has none) and ``emotion_raw``,
  ``self_report`` (CAS(ME)^2's self-reported emotion, normalised; empty elsewhere),
  ``notes`` (SAMM Long Videos' notes).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

DEFAULT_IMAGE_SIZE = 128


@dataclasses.dataclass(frozen=True)
class Interval:
    """One expression interval of a video, as written to the record."""

    name: str
    onset: int
    apex: int
    offset: int
    offset_estimated: bool
    type: str
    type_raw: str
    action_units: str
    aus: str
    aus_uncertain: bool
    emotion: str
    emotion_raw: str
    self_report: str = ""
    notes: str = ""

    def to_example(self) -> dict:
        return dataclasses.asdict(self)


INTERVAL_FEATURES = {
    "name": tfds.features.Text(),
    "onset": np.int32,
    "apex": np.int32,
    "offset": np.int32,
    "offset_estimated": np.bool_,
    "type": tfds.features.Text(),
    "type_raw": tfds.features.Text(),
    "action_units": tfds.features.Text(),
    "aus": tfds.features.Text(),
    "aus_uncertain": np.bool_,
    "emotion": tfds.features.Text(),
    "emotion_raw": tfds.features.Text(),
    "self_report": tfds.features.Text(),
    "notes": tfds.features.Text(),
}


def video_features(image_size: int, channels: int) -> tfds.features.FeaturesDict:
    """The ``FeaturesDict`` of one long-video record (see the module docstring)."""
    image = tfds.features.Image(shape=(image_size, image_size, channels), encoding_format="png")
    return tfds.features.FeaturesDict(
        {
            "id": tfds.features.Text(),
            "subject": tfds.features.Text(),
            "video": tfds.features.Text(),
            "video_code": tfds.features.Text(),
            "source": tfds.features.Text(),
            "fps": np.float32,
            "num_frames": np.int32,
            "frames": tfds.features.Sequence(image),
            "frame_numbers": tfds.features.Sequence(np.int32),
            "face_alignment": tfds.features.Text(),
            "intervals": tfds.features.Sequence(dict(INTERVAL_FEATURES)),
        }
    )


@dataclasses.dataclass(frozen=True)
class VideoRecord:
    """One long video, ready to be written (its frames face-sized and PNG-encoded)."""

    subject: str
    video: str
    video_code: str
    source: str
    fps: float
    num_frames: int
    png_frames: list[bytes]
    frame_numbers: list[int]
    face_alignment: str
    intervals: list[Interval]

    @property
    def key(self) -> str:
        return f"{self.subject}/{self.video_code}"

    def to_example(self) -> tuple[str, dict]:
        """The ``(key, example)`` pair a builder's ``_generate_examples`` yields."""
        if len(self.png_frames) != len(self.frame_numbers):
            raise ValueError(
                f"{self.key}: {len(self.png_frames)} frames but {len(self.frame_numbers)} numbers"
            )
        example = {
            "id": self.key,
            "subject": self.subject,
            "video": self.video,
            "video_code": self.video_code,
            "source": self.source,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "frames": list(self.png_frames),
            "frame_numbers": list(self.frame_numbers),
            "face_alignment": self.face_alignment,
            "intervals": [i.to_example() for i in self.intervals],
        }
        return self.key, example
