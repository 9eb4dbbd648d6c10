"""Procedural micro-expression clips in pure NumPy (no TFDS, no TensorFlow).

A synthetic face is drawn analytically in *face coordinates* ``(u, v)``: ``v`` runs from
-1 (top of the forehead) to +1 (chin), ``u`` is horizontal in the same unit (the face
is about 1.5 units wide). A pixel is mapped to face coordinates by the inverse of the
clip's view (face centre, scale, roll, plus the per-frame nuisance head motion), then
displaced by the expression's warp (a local backward warp: content near the moving
feature is sampled from where it came from), and coloured by the subject's appearance
(skin, hair, brows, eyes, nose, lips, texture, moles, resting wrinkles, which the
expression deepens). The expression's broad shading comes on top, lighting and sensor
noise last.

Classes are small LOCAL motions between onset and apex; everything that varies between
subjects and clips (identity, view, lighting) is far larger than the motion in any single
frame, so the class is read from ``apex - onset`` rather than from the apex frame.

Everything is deterministic from ``(seed, subject index, clip index, frame number)``
through ``numpy.random.SeedSequence`` spawn keys: adding subjects or clips leaves the
existing ones unchanged, and a frame rendered twice is the same array.

Public API: :data:`CLASS_NAMES`, :data:`ACTION_UNITS`, :func:`class_names`,
:class:`Identity`, :class:`ClipSpec`, :func:`sample_identity`, :func:`sample_clip`,
:func:`plan_dataset`, :func:`render_frame`, :func:`render_frames`,
:func:`expression_mask`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

# Class names in the order of their labels; a config with ``num_classes = k`` uses the
# first ``k``. Each is one facial action (FACS action units in ACTION_UNITS).
CLASS_NAMES: tuple[str, ...] = (
    "brow_raise",
    "eye_squint",
    "nose_wrinkle",
    "lip_corner_pull",
    "lip_press",
    "brow_lower",
    "lip_corner_depress",
)
ACTION_UNITS: dict[str, str] = {
    "brow_raise": "1+2",
    "eye_squint": "6+7",
    "nose_wrinkle": "9",
    "lip_corner_pull": "12",
    "lip_press": "24",
    "brow_lower": "4",
    "lip_corner_depress": "15",
}
DEFAULT_NUM_CLASSES = 5

# Wrinkle families (lines in the skin), and the darkness each class adds to them at full
# intensity.
WRINKLES: tuple[str, ...] = (
    "forehead",
    "glabella",
    "crow",
    "lower_lid",
    "bridge",
    "nasolabial",
    "marionette",
    "chin",
)
_CLASS_WRINKLES: dict[str, dict[str, float]] = {
    "brow_raise": {"forehead": 0.25},
    "eye_squint": {"crow": 0.3, "lower_lid": 0.25},
    "nose_wrinkle": {"bridge": 0.3},
    "lip_corner_pull": {"nasolabial": 0.3},
    "lip_press": {"chin": 0.25},
    "brow_lower": {"glabella": 0.35},
    "lip_corner_depress": {"marionette": 0.3},
}

# Spawn-key tags: one independent random stream per purpose.
_TAG_IDENTITY = 0
_TAG_CLIP = 1
_TAG_NOISE = 2
_TAG_PLAN = 3

# Strength of the nuisances (normalised image units: the image spans [-1, 1]).
_HEAD_SHIFT = 0.005  # per-clip onset->apex shift, std (0.12 px at 48 px)
_HEAD_ROLL_DEG = 0.3  # onset->apex roll, std
_HEAD_SCALE = 0.004  # onset->apex relative scale change, std
_LIGHT_GAIN = 0.02  # onset->apex global gain change, std
_LIGHT_GRADIENT = 0.015  # onset->apex change of the lighting gradient, std
# Strength of the class signal: motion (warp displacements) and shading (broad shading
# and the wrinkles a class deepens).
_MOTION_SCALE = 1.25
_SHADING_SCALE = 1.25


def class_names(num_classes: int = DEFAULT_NUM_CLASSES) -> list[str]:
    """The first ``num_classes`` entries of :data:`CLASS_NAMES` (2 to 7)."""
    if not 2 <= num_classes <= len(CLASS_NAMES):
        raise ValueError(f"num_classes must be in [2, {len(CLASS_NAMES)}], got {num_classes}")
    return list(CLASS_NAMES[:num_classes])


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=key))


# ---------------------------------------------------------------------------- identity


@dataclasses.dataclass(frozen=True)
class Identity:
    """A subject's face: shape, colours, feature layout and texture (face units)."""

    face_half_width: float
    jaw_taper: float
    skin: np.ndarray  # (3,) RGB in [0, 1]
    edge_shade: float
    blush: float
    hair: np.ndarray  # (3,)
    hairline: float
    hair_wave: float
    hair_wave_freq: float
    hair_phase: float
    head_extra: float
    long_hair: bool
    background: np.ndarray  # (3,)
    background_tilt: float
    brow_v: float
    brow_sep: float
    brow_half_len: float
    brow_thick: float
    brow_arch: float
    brow_tilt: float
    brow_color: np.ndarray  # (3,)
    eye_v: float
    eye_sep: float
    eye_half_w: float
    eye_half_h: float
    iris_r: float
    iris: np.ndarray  # (3,)
    nose_v: float
    nose_half_w: float
    nose_shade: float
    mouth_v: float
    mouth_half_w: float
    upper_lip: float
    lower_lip: float
    mouth_curve: float
    lip: np.ndarray  # (3,)
    wrinkles: np.ndarray  # (len(WRINKLES),) darkness of each wrinkle family at rest
    beard: float
    tex_freq: np.ndarray  # (K, 2) cycles per face unit
    tex_phase: np.ndarray  # (K,)
    tex_amp: np.ndarray  # (K,)
    moles: np.ndarray  # (M, 3): u, v, radius
    scale: float  # face half-height, in normalised image units
    # The subject's recording session: lighting colour/level and gradient (x, y).
    light_gain: np.ndarray  # (3,)
    light_gradient: np.ndarray  # (2,)


_HAIR_COLOURS = np.array(
    [
        [0.06, 0.05, 0.05],
        [0.20, 0.12, 0.07],
        [0.38, 0.24, 0.13],
        [0.72, 0.58, 0.36],
        [0.52, 0.22, 0.10],
        [0.55, 0.55, 0.55],
    ]
)


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw one subject's face from ``rng``."""
    tone = rng.uniform(0.0, 1.0)
    light, dark = np.array([0.96, 0.80, 0.69]), np.array([0.42, 0.27, 0.19])
    skin = (1 - tone) * light + tone * dark
    skin = np.clip(skin * rng.uniform(0.94, 1.06, 3), 0.05, 1.0)
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] * rng.uniform(0.8, 1.2)
    hair = np.clip(hair, 0.02, 0.95)
    # Brows contrast with the skin whatever the hair colour.
    brow = np.minimum(hair, skin * 0.45) * rng.uniform(0.8, 1.1)
    lip = np.clip(skin * np.array([0.85, 0.52, 0.52]) * rng.uniform(0.8, 1.0), 0, 1)
    iris = np.array(
        [[0.30, 0.18, 0.08], [0.12, 0.08, 0.05], [0.25, 0.40, 0.55], [0.35, 0.40, 0.22]]
    )[rng.integers(4)]
    background = rng.uniform(0.1, 0.9, 3)

    # Texture: blotches (low frequency) and fine grain (higher frequency).
    n_low, n_high = 10, 14
    f_low = rng.uniform(0.8, 4.0, n_low)
    f_high = rng.uniform(6.0, 24.0, n_high)
    freqs = np.concatenate([f_low, f_high])
    angles = rng.uniform(0, 2 * math.pi, n_low + n_high)
    tex_freq = np.stack([freqs * np.cos(angles), freqs * np.sin(angles)], axis=1)
    tex_amp = np.concatenate(
        [rng.uniform(0.01, 0.035, n_low), rng.uniform(0.004, 0.014, n_high)]
    ) * rng.uniform(0.6, 1.4)
    n_moles = int(rng.integers(0, 6))
    moles = np.stack(
        [
            rng.uniform(-0.6, 0.6, n_moles),
            rng.uniform(-0.6, 0.85, n_moles),
            rng.uniform(0.012, 0.03, n_moles),
        ],
        axis=1,
    )

    # Some faces carry lines at rest that an expression would deepen: a line alone does not
    # tell the class, only its change does.
    wrinkles = np.where(
        rng.uniform(size=len(WRINKLES)) < 0.7, rng.uniform(0.0, 0.45, len(WRINKLES)), 0.0
    )
    wrinkles[WRINKLES.index("nasolabial")] += rng.uniform(0.03, 0.1)

    brow_v = rng.uniform(-0.56, -0.36)
    eye_v = brow_v + rng.uniform(0.17, 0.24)
    eye_sep = rng.uniform(0.30, 0.36)
    nose_v = rng.uniform(0.18, 0.26)
    mouth_v = nose_v + rng.uniform(0.25, 0.31)
    return Identity(
        face_half_width=rng.uniform(0.70, 0.82),
        jaw_taper=rng.uniform(0.10, 0.38),
        skin=skin,
        edge_shade=rng.uniform(0.12, 0.35),
        blush=rng.uniform(0.0, 0.08),
        hair=hair,
        hairline=min(rng.uniform(-0.80, -0.64), brow_v - 0.26),  # room for a raised brow
        hair_wave=rng.uniform(0.0, 0.06),
        hair_wave_freq=rng.uniform(2.0, 6.0),
        hair_phase=rng.uniform(0, 2 * math.pi),
        head_extra=rng.uniform(0.03, 0.14),
        long_hair=bool(rng.uniform() < 0.45),
        background=background,
        background_tilt=rng.uniform(-0.15, 0.15),
        brow_v=brow_v,
        brow_sep=eye_sep + rng.uniform(-0.02, 0.03),
        brow_half_len=rng.uniform(0.14, 0.19),
        brow_thick=rng.uniform(0.05, 0.08),
        brow_arch=rng.uniform(0.015, 0.06),
        brow_tilt=rng.uniform(-0.05, 0.05),
        brow_color=brow,
        eye_v=eye_v,
        eye_sep=eye_sep,
        eye_half_w=rng.uniform(0.11, 0.14),
        eye_half_h=rng.uniform(0.045, 0.075),
        iris_r=rng.uniform(0.045, 0.058),
        iris=iris,
        nose_v=nose_v,
        nose_half_w=rng.uniform(0.09, 0.14),
        nose_shade=rng.uniform(0.08, 0.2),
        mouth_v=mouth_v,
        mouth_half_w=rng.uniform(0.18, 0.26),
        upper_lip=rng.uniform(0.035, 0.075),
        lower_lip=rng.uniform(0.05, 0.10),
        mouth_curve=rng.uniform(-0.03, 0.03),
        lip=lip,
        wrinkles=wrinkles,
        beard=float(rng.uniform(0.1, 0.3)) if rng.uniform() < 0.25 else 0.0,
        tex_freq=tex_freq,
        tex_phase=rng.uniform(0, 2 * math.pi, n_low + n_high),
        tex_amp=tex_amp,
        moles=moles,
        scale=rng.uniform(0.80, 0.92),
        light_gain=rng.uniform(0.8, 1.15) * rng.uniform(0.93, 1.07, 3),
        light_gradient=np.array([rng.uniform(-0.25, 0.25), rng.uniform(-0.2, 0.2)]),
    )


# ---------------------------------------------------------------------------- clips


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """One clip: its class, frame numbers, view, and the onset->apex nuisances.

    Geometry is in normalised image units (the image spans [-1, 1] on both axes).
    ``pose_delta`` = (dx, dy, droll in radians, relative scale change) and
    ``light_delta`` = (gain change, x-gradient change, y-gradient change) are reached at
    the apex and grow linearly with the frame number from the onset (head motion is not
    synchronised with the expression).
    """

    seed: int
    subject_index: int
    clip_index: int
    label: int
    expression: str  # the class name, CLASS_NAMES[label]
    onset: int
    apex: int
    offset: int
    amplitude: float
    centre: tuple[float, float]
    scale: float
    roll: float
    light_gain: tuple[float, float, float]
    light_gradient: tuple[float, float]
    pose_delta: tuple[float, float, float, float]
    light_delta: tuple[float, float, float]
    noise_std: float

    def intensity(self, frame: int) -> float:
        """Expression intensity at ``frame``: 0 at onset, ``amplitude`` at apex, 0 at offset.

        A raised-cosine ramp, so the frames next to the onset barely move and those next
        to the apex are nearly at full intensity (what the temporal jitter relies on).
        """
        if frame <= self.onset or frame >= self.offset:
            return 0.0
        if frame <= self.apex:
            s = (frame - self.onset) / max(1, self.apex - self.onset)
        else:
            s = (self.offset - frame) / max(1, self.offset - self.apex)
        return float(self.amplitude * 0.5 * (1.0 - math.cos(math.pi * s)))

    def progress(self, frame: int) -> float:
        """How far the nuisance drift has gone at ``frame`` (0 at onset, 1 at apex)."""
        return (frame - self.onset) / max(1, self.apex - self.onset)


def sample_clip(
    seed: int, subject_index: int, clip_index: int, label: int, identity: Identity
) -> ClipSpec:
    """Draw one clip of class ``CLASS_NAMES[label]`` (deterministic in the indices)."""
    rng = _rng(seed, subject_index, clip_index, _TAG_CLIP)
    onset = int(rng.integers(1, 120))
    rise = int(rng.integers(28, 81))  # 200-fps-like: jitter of 1 to 3 frames
    fall = int(rng.integers(int(0.8 * rise), int(2.0 * rise) + 1))
    roll = math.radians(rng.uniform(-2.0, 2.0))
    return ClipSpec(
        seed=seed,
        subject_index=subject_index,
        clip_index=clip_index,
        label=label,
        expression=CLASS_NAMES[label],
        onset=onset,
        apex=onset + rise,
        offset=onset + rise + fall,
        amplitude=float(rng.uniform(0.75, 1.0)),
        centre=(float(rng.normal(0, 0.012)), float(rng.normal(0.02, 0.012))),
        scale=float(identity.scale * rng.uniform(0.97, 1.03)),
        roll=roll,
        # Clips of a subject share a session: its lighting, varied a little per clip.
        light_gain=tuple(float(x) for x in identity.light_gain * rng.normal(1.0, 0.015, 3)),
        light_gradient=tuple(float(x) for x in identity.light_gradient + rng.normal(0, 0.02, 2)),
        pose_delta=(
            float(rng.normal(0, _HEAD_SHIFT)),
            float(rng.normal(0, _HEAD_SHIFT)),
            math.radians(rng.normal(0, _HEAD_ROLL_DEG)),
            float(rng.normal(0, _HEAD_SCALE)),
        ),
        light_delta=(
            float(rng.normal(0, _LIGHT_GAIN)),
            float(rng.normal(0, _LIGHT_GRADIENT)),
            float(rng.normal(0, _LIGHT_GRADIENT)),
        ),
        noise_std=float(rng.uniform(1.0, 3.0)),
    )


def plan_dataset(
    seed: int,
    num_subjects: int,
    clips_per_subject: int,
    num_classes: int = DEFAULT_NUM_CLASSES,
) -> list[tuple[Identity, list[ClipSpec]]]:
    """Identities and clip specs of a whole dataset.

    Labels are balanced: clip ``c`` of subject ``s`` has global index
    ``i = s * clips_per_subject + c`` and the labels ``i % num_classes`` are shuffled
    within each subject, so every class has ``floor`` or ``ceil`` of ``N / num_classes``
    clips and a subject with at least ``num_classes`` clips shows every class.
    """
    class_names(num_classes)  # validates
    if num_subjects < 1 or clips_per_subject < 1:
        raise ValueError("num_subjects and clips_per_subject must be positive")
    plan = []
    for s in range(num_subjects):
        identity = sample_identity(_rng(seed, s, _TAG_IDENTITY))
        labels = [(s * clips_per_subject + c) % num_classes for c in range(clips_per_subject)]
        _rng(seed, s, _TAG_PLAN).shuffle(labels)
        clips = [
            sample_clip(seed, s, c, int(labels[c]), identity) for c in range(clips_per_subject)
        ]
        plan.append((identity, clips))
    return plan


# ---------------------------------------------------------------------------- drawing


def _soft(d: np.ndarray, w: float) -> np.ndarray:
    """Coverage of a shape from a signed distance ``d`` (negative inside), edge width ``w``."""
    return np.clip(0.5 - d / w, 0.0, 1.0)


def _smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _line(d: np.ndarray, width: float, px: float) -> np.ndarray:
    """Intensity profile (0..1) of a line at distance ``d``, at least a pixel wide."""
    w = max(width, 0.7 * px)
    return np.exp(-((d / w) ** 2)) * min(1.0, width / w + 0.3)


def _seg_dist(u, v, a, b):
    """Distance from points ``(u, v)`` to the segment ``a``-``b``."""
    au, av = u - a[0], v - a[1]
    bu, bv = b[0] - a[0], b[1] - a[1]
    t = np.clip((au * bu + av * bv) / (bu * bu + bv * bv + 1e-12), 0.0, 1.0)
    return np.hypot(au - t * bu, av - t * bv)


def _blend(img, colour, alpha):
    a = alpha[..., None]
    return img * (1 - a) + np.asarray(colour) * a


def _wrinkle_lines(
    idt: Identity, u: np.ndarray, v: np.ndarray, px: float, depth: np.ndarray
) -> np.ndarray:
    """Darkness (H, W) of the wrinkle lines, family ``i`` weighted by ``depth[i]``."""
    au = np.abs(u)
    out = np.zeros_like(u)
    d = dict(zip(WRINKLES, depth, strict=True))
    if d["forehead"] > 0:
        for off in (0.11, 0.19, 0.27):
            wv = v - (idt.brow_v - off) + 0.02 * np.cos(3 * u)
            out += d["forehead"] * _line(wv, 0.010, px) * (1 - _smoothstep(0.3, 0.5, au))
    if d["glabella"] > 0:
        span = _smoothstep(idt.brow_v - 0.08, idt.brow_v, v)
        span *= 1 - _smoothstep(idt.brow_v + 0.06, idt.brow_v + 0.12, v)
        out += d["glabella"] * _line(au - 0.045, 0.010, px) * span
    if d["crow"] > 0:
        corner = (idt.eye_sep + idt.eye_half_w + 0.025, idt.eye_v)
        for dy in (-0.035, 0.0, 0.035):
            end = (corner[0] + 0.08, corner[1] + 2.0 * dy)
            out += d["crow"] * _line(_seg_dist(au, v, corner, end), 0.009, px)
    if d["lower_lid"] > 0:
        lid = _line(v - idt.eye_v - 1.6 * idt.eye_half_h, 0.01, px)
        out += d["lower_lid"] * lid * np.exp(-(((au - idt.eye_sep) / idt.eye_half_w) ** 4))
    if d["bridge"] > 0:
        for off in (0.09, 0.14, 0.19, 0.24):
            wv = v - (idt.nose_v - off) - 0.25 * u * u
            out += d["bridge"] * _line(wv, 0.009, px) * (1 - _smoothstep(0.05, 0.09, au))
    if d["nasolabial"] > 0:
        a = (1.25 * idt.nose_half_w, idt.nose_v - 0.01)
        b = (idt.mouth_half_w + 0.07, idt.mouth_v)
        out += d["nasolabial"] * _line(_seg_dist(au, v, a, b), 0.015, px)
    if d["marionette"] > 0:
        a = (idt.mouth_half_w + 0.02, idt.mouth_v + 0.06)
        b = (idt.mouth_half_w + 0.06, idt.mouth_v + 0.2)
        out += d["marionette"] * _line(_seg_dist(au, v, a, b), 0.012, px)
    if d["chin"] > 0:
        crease = _line(v - idt.mouth_v - idt.lower_lip - 0.045, 0.01, px)
        out += d["chin"] * crease * (au < idt.mouth_half_w)
    return out


def _appearance(
    idt: Identity, u: np.ndarray, v: np.ndarray, px: float, wrinkles: np.ndarray
) -> np.ndarray:
    """RGB (H, W, 3) in [0, 1] of the face at face coordinates ``(u, v)``.

    ``px`` is the size of one pixel in face units (edges are about a pixel wide);
    ``wrinkles`` the darkness of each family in :data:`WRINKLES`.
    """
    # Head and hair behind the face.
    hw = idt.face_half_width
    width = hw * (1 - idt.jaw_taper * np.clip(v, 0, None) ** 2)
    face_d = (np.hypot(u / width, v) - 1.0) * hw
    head_d = np.hypot(u / (hw + idt.head_extra), (v + 0.06) / (1.0 + idt.head_extra)) - 1.0
    bg = idt.background * (1 + idt.background_tilt * u)[..., None]
    img = np.broadcast_to(bg, u.shape + (3,)).copy()
    hair_region = _soft(head_d * hw, px)
    if not idt.long_hair:
        hair_region *= 1 - _smoothstep(-0.1, 0.15, v)
    img = _blend(img, idt.hair, hair_region)

    # Skin with shading, blush, texture, stubble.
    face = _soft(face_d, px)
    shade = 1 - idt.edge_shade * np.clip(np.abs(u) / hw, 0, 1) ** 3
    tex = np.zeros_like(u)
    for (fu, fv), ph, amp in zip(idt.tex_freq, idt.tex_phase, idt.tex_amp, strict=True):
        if math.hypot(fu, fv) * px < 0.35:  # drop what the pixel grid would alias
            tex += amp * np.cos(2 * math.pi * (fu * u + fv * v) + ph)
    skin = idt.skin * (shade * (1 + tex))[..., None]
    cheeks = np.exp(-(((np.abs(u) - idt.eye_sep) / 0.14) ** 2 + ((v - idt.nose_v) / 0.12) ** 2))
    skin = skin * (1 - idt.blush * cheeks[..., None] * np.array([0.0, 0.6, 0.5]))
    if idt.beard > 0:
        beard = _smoothstep(idt.nose_v + 0.05, idt.mouth_v, v) * _soft(face_d + 0.02, 0.05)
        skin = skin * (1 - idt.beard * beard)[..., None]
    for mu, mv, mr in idt.moles:
        skin = skin * (1 - 0.45 * _soft(np.hypot(u - mu, v - mv) - mr, px))[..., None]

    # Nose: side shading, nostrils, tip highlight.
    nw, nv = idt.nose_half_w, idt.nose_v
    sides = np.exp(-(((np.abs(u) - 0.55 * nw) / 0.035) ** 2)) * _smoothstep(-0.12, nv, v)
    sides *= 1 - _smoothstep(nv, nv + 0.05, v)
    nostril_d = np.hypot((np.abs(u) - 0.5 * nw) / 0.045, (v - nv - 0.015) / 0.022) - 1.0
    ala_d = np.abs(np.hypot((np.abs(u) - 0.62 * nw) / 0.07, (v - nv) / 0.06) - 1.0)
    shadow = idt.nose_shade * sides + 0.55 * _soft(nostril_d * 0.022, px)
    shadow = shadow + 0.18 * _line(ala_d * 0.06, 0.012, px) * (v > nv - 0.04)
    lines = _wrinkle_lines(idt, u, v, px, wrinkles)
    skin = skin * (1 - np.clip(shadow, 0, 0.9) - np.clip(lines, 0, 0.8))[..., None]
    tip = np.exp(-((u / (0.5 * nw)) ** 2 + ((v - nv + 0.05) / 0.05) ** 2))
    skin = skin * (1 + 0.08 * tip)[..., None]

    # Lips: upper lip between its top curve and the mouth line, lower lip below.
    mw, mv = idt.mouth_half_w, idt.mouth_v
    x = np.clip(u / mw, -1.5, 1.5)
    span = np.clip(1 - x * x, 0, None) ** 0.6
    line_v = mv + idt.mouth_curve * (x * x - 0.3)
    bow = 1 - 0.35 * np.exp(-((u / 0.05) ** 2))
    top = line_v - idt.upper_lip * span * bow
    bottom = line_v + idt.lower_lip * span
    lips = _soft(np.maximum(top - v, v - bottom), px) * (np.abs(x) < 1)
    skin = _blend(skin, idt.lip, lips)
    mouth_line = _line(v - line_v, 0.011, px) * np.clip(1 - np.abs(x) ** 6, 0, 1)
    skin = skin * (1 - 0.7 * mouth_line)[..., None]

    # Eyes: almond opening (sclera, iris, pupil), lash line, crease.
    for side in (-1.0, 1.0):
        eu = (u - side * idt.eye_sep) / idt.eye_half_w
        ev = v - idt.eye_v
        lid = np.clip(1 - eu * eu, 0, None)
        upper = -idt.eye_half_h * lid**0.8
        lower = 0.75 * idt.eye_half_h * lid**0.9
        opening = _soft(np.maximum(upper - ev, ev - lower), px) * (np.abs(eu) < 1)
        iris_d = np.hypot(eu * idt.eye_half_w, ev) - idt.iris_r
        pupil = 1 - 0.8 * _soft(iris_d + 0.55 * idt.iris_r, px)
        sclera = np.broadcast_to(np.array([0.88, 0.86, 0.84]), skin.shape)
        eye = _blend(sclera, idt.iris * pupil[..., None], _soft(iris_d, px))
        skin = _blend(skin, eye, opening)
        lash = _line(ev - upper, 0.012, px) * (np.abs(eu) < 1.08)
        crease = _line(ev - upper + 0.045, 0.008, px) * (np.abs(eu) < 0.9)
        skin = skin * (1 - 0.75 * lash - 0.15 * crease)[..., None]

        # Brow: a tapered arc.
        bu = (u - side * idt.brow_sep) / idt.brow_half_len
        arc = idt.brow_v - idt.brow_arch * (1 - bu * bu) + side * idt.brow_tilt * bu * 0.1
        taper = idt.brow_thick * (0.5 + 0.5 * np.clip(1 - (bu - side * 0.3) ** 2 / 2, 0, 1))
        brow_d = np.maximum(np.abs(v - arc) - taper * 0.5, (np.abs(bu) - 1) * idt.brow_half_len)
        skin = _blend(skin, idt.brow_color, _soft(brow_d, px) * 0.95)

    # Face over hair; hairline over forehead.
    img = _blend(img, skin, face)
    hairline = idt.hairline + idt.hair_wave * np.sin(idt.hair_wave_freq * u + idt.hair_phase)
    hairline = hairline + 0.25 * u * u
    img = _blend(img, idt.hair, _soft(v - hairline, px) * face)
    return img


def _expression(
    idt: Identity, name: str, k: float, u: np.ndarray, v: np.ndarray, px: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward warp ``(du, dv)`` and multiplicative shading of class ``name`` at intensity ``k``.

    The face is sampled at ``(u + du, v + dv)``: content that appears to move by ``m``
    is sampled from ``p - m``. Windows are smooth so the warp never folds.
    """
    du = np.zeros_like(u)
    dv = np.zeros_like(v)
    dark = np.zeros_like(u)
    if k <= 0:
        return du, dv, 1 - dark
    ks = k * _SHADING_SCALE
    k = k * _MOTION_SCALE
    au = np.abs(u)
    side = np.sign(u)
    if name in ("brow_raise", "brow_lower"):
        raise_ = name == "brow_raise"
        m = (0.17 if raise_ else 0.09) * k
        new_brow = idt.brow_v + (-m if raise_ else m)
        reach = idt.brow_sep + idt.brow_half_len
        g_u = 1 - _smoothstep(reach, reach + 0.2, au)
        lower_end = idt.eye_v - 0.6 * idt.eye_half_h if raise_ else idt.eye_v + idt.eye_half_h
        g_v = 1 - _smoothstep(new_brow + idt.brow_thick, lower_end, v)
        # A raised brow takes the forehead (and a little of the scalp) with it; a lowered
        # one pulls less skin. Fades are slow enough for the warp not to fold.
        top = min(idt.hairline - 0.1, idt.brow_v - 0.4) if raise_ else idt.brow_v - 0.3
        g_v *= _smoothstep(top, idt.brow_v - 0.05, v)
        g = g_u * g_v
        dv += (m if raise_ else -m) * g
        if raise_:
            # The furrowed forehead darkens a little overall.
            band = np.exp(-((u / 0.4) ** 4) - ((v - idt.brow_v + 0.2 + m) / 0.1) ** 2)
            dark += 0.2 * ks * band
        else:
            # Brows also pull together.
            du += 0.04 * k * side * g * _smoothstep(0.0, 0.1, au)
    elif name == "eye_squint":
        # Lids close towards the eye's midline; the cheek rises beneath.
        squeeze = 0.85 * k
        for s in (-1.0, 1.0):
            cu = s * idt.eye_sep
            g = np.exp(-(((u - cu) / (1.5 * idt.eye_half_w)) ** 4))
            g = g * np.exp(-(((v - idt.eye_v) / (1.8 * idt.eye_half_h)) ** 4))
            dv += squeeze * (v - idt.eye_v) * g
            cheek = np.exp(-(((u - cu) / 0.16) ** 2) - ((v - idt.eye_v - 0.17) / 0.09) ** 2)
            dv += 0.07 * k * cheek
            dark -= 0.2 * ks * cheek  # the raised cheek catches the light
    elif name == "nose_wrinkle":
        # Nostrils and alae lift; the wrinkled bridge darkens.
        m = 0.09 * k
        g = np.exp(-((u / (1.8 * idt.nose_half_w)) ** 4))
        g = g * np.exp(-(((v - idt.nose_v) / 0.13) ** 2))
        dv += m * g
        bridge = np.exp(-((u / 0.09) ** 2) - ((v - idt.nose_v + 0.17) / 0.1) ** 2)
        dark += 0.2 * ks * bridge
    elif name in ("lip_corner_pull", "lip_corner_depress"):
        pull = name == "lip_corner_pull"
        mu, mv = (0.08, -0.095) if pull else (0.03, 0.09)
        for s in (-1.0, 1.0):
            cu = s * idt.mouth_half_w
            g = np.exp(-(((u - cu) / 0.13) ** 2) - ((v - idt.mouth_v) / 0.12) ** 2)
            du -= s * mu * k * g
            dv -= mv * k * g
        if pull:
            # The cheeks bunch up beside the mouth.
            apple = np.exp(
                -(((au - idt.mouth_half_w - 0.06) / 0.1) ** 2)
                - ((v - idt.mouth_v + 0.14) / 0.08) ** 2
            )
            dark -= 0.2 * ks * apple
    elif name == "lip_press":
        # Lips squeezed thin against each other, and narrower.
        squeeze = 1.1 * k
        g = np.exp(-((u / (1.25 * idt.mouth_half_w)) ** 4))
        g = g * np.exp(-(((v - idt.mouth_v) / 0.14) ** 2))
        dv += squeeze * (v - idt.mouth_v) * g
        du += 0.12 * k * u * g
        # Pressed lips blanch; the chin bunches up beneath.
        lips = np.exp(-((u / idt.mouth_half_w) ** 4) - ((v - idt.mouth_v) / 0.05) ** 2)
        dark -= 0.15 * ks * lips
        bulge = np.exp(-((u / 0.14) ** 2) - ((v - idt.mouth_v - 0.17) / 0.05) ** 2)
        dark += 0.22 * ks * bulge
    else:
        raise ValueError(f"unknown class {name!r}")
    return du, dv, 1 - np.clip(dark, 0, 0.8)


def render_frame(
    identity: Identity,
    spec: ClipSpec,
    frame: int,
    image_size: int,
    *,
    intensity: float | None = None,
    clean: bool = False,
) -> np.ndarray:
    """One frame of a clip: RGB uint8, ``(image_size, image_size, 3)``.

    The expression intensity, head pose and lighting follow ``frame`` (see
    :class:`ClipSpec`); sensor noise is drawn from ``(seed, subject, clip, frame)``.
    ``intensity`` overrides the expression intensity; ``clean`` leaves out the noise and
    keeps head pose and lighting at their onset values (for masks and figures).
    """
    t = 0.0 if clean else spec.progress(frame)
    dx, dy, droll, dscale = (t * d for d in spec.pose_delta)
    cx, cy = spec.centre[0] + dx, spec.centre[1] + dy
    scale = spec.scale * (1 + dscale)
    roll = spec.roll + droll

    n = image_size
    coords = (np.arange(n, dtype=np.float64) + 0.5) / n * 2 - 1
    x, y = np.meshgrid(coords, coords)
    c, s = math.cos(roll), math.sin(roll)
    px_, py_ = x - cx, y - cy
    u = (c * px_ + s * py_) / scale
    v = (-s * px_ + c * py_) / scale
    px = 2.0 / n / scale

    k = spec.intensity(frame) if intensity is None else float(intensity)
    du, dv, shading = _expression(identity, spec.expression, k, u, v, px)
    wrinkles = identity.wrinkles.copy()
    for family, depth in _CLASS_WRINKLES[spec.expression].items():
        wrinkles[WRINKLES.index(family)] += k * _SHADING_SCALE * depth
    img = _appearance(identity, u + du, v + dv, px, wrinkles)
    img = img * shading[..., None]

    gain = np.asarray(spec.light_gain) * (1 + t * spec.light_delta[0])
    gx = spec.light_gradient[0] + t * spec.light_delta[1]
    gy = spec.light_gradient[1] + t * spec.light_delta[2]
    img = img * gain * (1 + gx * x + gy * y)[..., None]
    if clean:
        return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)

    noise = _rng(spec.seed, spec.subject_index, spec.clip_index, _TAG_NOISE, int(frame))
    out = img * 255.0 + noise.normal(0.0, spec.noise_std, img.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def render_frames(
    identity: Identity, spec: ClipSpec, frames: Sequence[int], image_size: int
) -> list[np.ndarray]:
    """:func:`render_frame` for each of ``frames``; repeated numbers are drawn once."""
    cache: dict[int, np.ndarray] = {}
    for f in frames:
        if f not in cache:
            cache[f] = render_frame(identity, spec, int(f), image_size)
    return [cache[f] for f in frames]


def expression_mask(
    identity: Identity, spec: ClipSpec, image_size: int, threshold: float = 6.0
) -> np.ndarray:
    """Where the clip's expression changes the face: (S, S) bool.

    Pixels whose clean apex frame (no noise, no head motion, no lighting change) differs
    from the same frame at zero intensity by more than ``threshold`` grey levels in any
    channel.
    """
    apex = render_frame(identity, spec, spec.apex, image_size, clean=True).astype(np.int16)
    rest = render_frame(identity, spec, spec.apex, image_size, intensity=0.0, clean=True)
    return np.abs(apex - rest.astype(np.int16)).max(axis=-1) > threshold
