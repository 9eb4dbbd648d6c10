"""Optical flow from the onset to the apex frame, as the field's flow-based models read it.

STSTNet, Off-ApexNet, HTNet and their descendants take three channels computed from a
clip's onset and apex face crops: the horizontal flow ``u``, the vertical flow ``v`` and
the optical strain, resized to a small square (28 x 28). This module computes them, and
reads and writes the field's flow images. docs/flow.md says how each choice compares
with the field's and what backs it.

Public API:

- :class:`TVL1Params`: the TV-L1 parameters (OpenCV's defaults, which the field's Python
  code uses); ``params.describe()`` is the JSON-ready record of a result.
- :func:`tvl1` ``(onset, apex, params) -> (u, v)``: TV-L1 flow
  (``cv2.optflow.DualTVL1OpticalFlow_create``, OpenCV's contrib build) on grey images,
  float32 (H, W) each, in pixels: the onset pixel ``(x, y)`` moves to ``(x + u, y + v)``
  in the apex frame (``x`` to the right, ``y`` down).
- :func:`strain` ``(u, v)``: the optical strain magnitude ``sqrt(e_xx^2 + e_yy^2 + 2
  e_xy^2)``, ``e_xx = du/dx``, ``e_yy = dv/dy``, ``e_xy = (du/dy + dv/dx) / 2``, with
  derivatives by ``np.gradient`` (central differences inside, one-sided differences at
  the border; unit pixel spacing).
- :func:`features` ``(onset, apex, size, params) -> (size, size, 3)`` float32 channels
  ``(u, v, strain)``: flow and strain computed at the images' full size, then resized to
  ``size`` x ``size`` (area filter down, bilinear up), ``u`` scaled by ``size / W`` and
  ``v`` by ``size / H`` (a displacement of ``d`` source pixels spans ``d size / W``
  output pixels); the strain is resized, not scaled: it is a ratio of lengths (a flow
  scaled in size and magnitude alike has the same strain), and resizing the full-size
  strain, as the field did, keeps deformation that varies within one output pixel,
  which the strain of the resized, smoothed flow would average away.
- :func:`minmax` ``(x)``: each channel of ``(..., H, W, C)`` min-max normalised to
  0..255 (float32; a constant channel becomes 0); NumPy in, NumPy out, JAX in, JAX out,
  so an input pipeline can apply the same arithmetic on the device.
- :func:`to_field_image` ``(features) -> uint8 (H, W, 3)``: the field's flow image:
  each channel min-max normalised and rounded to uint8, laid out in the channel order
  ``cv2.imwrite`` takes, so the file holds what the STSTNet release's ``norm_u_v_os``
  images hold (red u, green v, blue strain) and ``cv2.imread`` reads back the release's
  array order (:data:`FIELD_CHANNELS`).
- :func:`from_field_image` ``(image) -> (H, W, 3)`` float32 channels ``(u, v, strain)``
  in 0..255 from an array as ``cv2.imread`` returns a field image (batches ``(..., H,
  W, 3)`` too).
- :data:`FIELD_CHANNELS`: which channel of a ``cv2.imread`` array of a ``norm_u_v_os``
  image holds ``u``, ``v`` and ``strain``: ``{"u": 2, "v": 1, "strain": 0}`` (the
  file's RGB is u, v, strain; OpenCV reads BGR). Evidence: docs/flow.md.
- :func:`contrib_available`; :class:`FlowUnavailable` (no ``cv2.optflow``: the plain
  OpenCV wheel is installed), :class:`FlowError` (images that give no flow: different
  sizes, too small, non-finite values).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

# Which channel of the array cv2.imread returns for a norm_u_v_os image holds each
# quantity (the file's red, green, blue are u, v, strain; OpenCV reads BGR).
FIELD_CHANNELS = {"u": 2, "v": 1, "strain": 0}
CHANNELS = ("u", "v", "strain")
# cv2.imread channel index of u, v, strain, in that order (and the inverse layout).
_FROM_FIELD = tuple(FIELD_CHANNELS[c] for c in CHANNELS)
_TO_FIELD = tuple(CHANNELS.index(c) for c in sorted(FIELD_CHANNELS, key=FIELD_CHANNELS.get))
MIN_SIDE = 2  # np.gradient needs two samples per axis

CONTRIB_HINT = (
    "TV-L1 optical flow needs OpenCV's contrib module cv2.optflow: "
    "pip install opencv-contrib-python-headless (it replaces opencv-python-headless; "
    "uninstall that first, both provide cv2)"
)


class FlowUnavailable(RuntimeError):
    """OpenCV without its contrib module (no ``cv2.optflow``): the message says what to
    install."""


class FlowError(ValueError):
    """Images that give no flow (different sizes, too small, non-finite values)."""


@dataclasses.dataclass(frozen=True)
class TVL1Params:
    """Parameters of OpenCV's dual TV-L1 flow (``cv2.optflow.DualTVL1OpticalFlow``).

    The defaults are OpenCV's own, which the field's Python code uses (it calls
    ``DualTVL1OpticalFlow_create()`` with no arguments). The IPOL implementation STSTNet
    cites (Sanchez, Meinhardt-Llopis, Facciolo 2013) shares ``tau``, ``lambda_``,
    ``theta``, ``warps`` and ``epsilon``; its pyramid and iterations differ (docs/flow.md).

    Attributes:
      tau: time step of the numerical scheme.
      lambda_: weight of the data term (OpenCV's ``lambda``; larger follows the images
        more closely, smaller gives smoother flow).
      theta: coupling between the flow and its auxiliary variable.
      nscales: pyramid levels.
      warps: warpings per level.
      epsilon: stopping threshold of the inner iterations.
      inner_iterations, outer_iterations: iteration caps per warping.
      scale_step: ratio between pyramid levels.
      gamma: weight of the illumination-change term (0: none).
      median_filtering: median filter size applied to the flow after each warping.
    """

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5

    def describe(self) -> dict:
        """JSON-ready: the method and every parameter (``lambda`` without the underscore)."""
        values = {f.name.rstrip("_"): getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"method": "opencv DualTVL1OpticalFlow", "opencv": cv2.__version__, **values}

    def create(self):
        """The OpenCV flow object with these parameters.

        Raises:
          FlowUnavailable: no ``cv2.optflow`` (OpenCV without its contrib module).
        """
        optflow = getattr(cv2, "optflow", None)
        if optflow is None or not hasattr(optflow, "DualTVL1OpticalFlow_create"):
            raise FlowUnavailable(CONTRIB_HINT)
        tvl1_flow = optflow.DualTVL1OpticalFlow_create()
        tvl1_flow.setTau(float(self.tau))
        tvl1_flow.setLambda(float(self.lambda_))
        tvl1_flow.setTheta(float(self.theta))
        tvl1_flow.setScalesNumber(int(self.nscales))
        tvl1_flow.setWarpingsNumber(int(self.warps))
        tvl1_flow.setEpsilon(float(self.epsilon))
        tvl1_flow.setInnerIterations(int(self.inner_iterations))
        tvl1_flow.setOuterIterations(int(self.outer_iterations))
        tvl1_flow.setScaleStep(float(self.scale_step))
        tvl1_flow.setGamma(float(self.gamma))
        tvl1_flow.setMedianFiltering(int(self.median_filtering))
        tvl1_flow.setUseInitialFlow(False)
        return tvl1_flow


DEFAULT_PARAMS = TVL1Params()


def contrib_available() -> bool:
    """Whether this OpenCV has the contrib module's TV-L1 flow."""
    try:
        DEFAULT_PARAMS.create()
    except FlowUnavailable:
        return False
    return True


def grey(image: np.ndarray, name: str = "image") -> np.ndarray:
    """A frame as grey float32 (H, W) in [0, 1]: (H, W), (H, W, 1) or RGB (H, W, 3)
    (RGBA: alpha dropped); uint8 is scaled by 1/255, uint16 by 1/65535, floats are read
    as values in [0, 1].

    Raises:
      FlowError: another shape.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        image = image[..., :3]
    elif image.ndim != 2:
        raise FlowError(f"{name}: shape {image.shape} is not a frame (H, W) or (H, W, 3)")
    if image.dtype == np.uint8:
        x = image.astype(np.float32) / np.float32(255.0)
    elif image.dtype == np.uint16:
        x = image.astype(np.float32) / np.float32(65535.0)
    else:
        x = image.astype(np.float32)
    if x.ndim == 3:
        x = cv2.cvtColor(np.ascontiguousarray(x), cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(x)


def tvl1(
    onset: np.ndarray, apex: np.ndarray, params: TVL1Params = DEFAULT_PARAMS
) -> tuple[np.ndarray, np.ndarray]:
    """TV-L1 flow from ``onset`` to ``apex`` (see :func:`grey` for the frames taken).

    Returns:
      ``(u, v)``, float32 (H, W) each, pixels: onset pixel ``(x, y)`` is at ``(x + u, y +
      v)`` in the apex frame.

    Raises:
      FlowUnavailable: OpenCV without ``cv2.optflow``.
      FlowError: frames of different sizes, under 2 pixels a side, or a non-finite flow.
    """
    a, b = grey(onset, "onset"), grey(apex, "apex")
    if a.shape != b.shape:
        raise FlowError(
            f"onset and apex differ in size: {a.shape[1]}x{a.shape[0]} and "
            f"{b.shape[1]}x{b.shape[0]} (width x height)"
        )
    if min(a.shape) < MIN_SIDE:
        raise FlowError(f"frames of {a.shape[1]}x{a.shape[0]} are too small for flow")
    # OpenCV scales float input by 255 (its parameters assume 0..255 grey levels); float
    # input keeps what uint8 would round away.
    try:
        flow = params.create().calc(a, b, None)
    except cv2.error as e:
        raise FlowError(f"OpenCV TV-L1 failed: {' '.join(str(e).split())}") from None
    if not np.isfinite(flow).all():
        raise FlowError("TV-L1 gave non-finite flow values")
    return np.ascontiguousarray(flow[..., 0]), np.ascontiguousarray(flow[..., 1])


def strain(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Optical strain magnitude of the flow ``(u, v)`` (float32, same shape): ``sqrt(e_xx^2
    + e_yy^2 + 2 e_xy^2)``, ``e_xy = (du/dy + dv/dx) / 2``; derivatives by
    ``np.gradient`` (central differences, one-sided at the border, unit spacing).

    Raises:
      FlowError: shapes that differ, or fewer than 2 pixels a side.
    """
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    if u.shape != v.shape or u.ndim != 2:
        raise FlowError(f"u and v must be (H, W) alike, got {u.shape} and {v.shape}")
    if min(u.shape) < MIN_SIDE:
        raise FlowError(f"a flow of {u.shape[1]}x{u.shape[0]} is too small for strain")
    du_dy, du_dx = np.gradient(u)
    dv_dy, dv_dx = np.gradient(v)
    e_xy = 0.5 * (du_dy + dv_dx)
    return np.sqrt(du_dx**2 + dv_dy**2 + 2.0 * e_xy**2).astype(np.float32)


def resize_flow(
    u: np.ndarray, v: np.ndarray, s: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(u, v, strain)`` at ``size`` x ``size``: area filter down, bilinear up; ``u``
    scaled by ``size / W``, ``v`` by ``size / H``, the strain resized only."""
    h, w = u.shape
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    if (h, w) == (size, size):
        return u, v, s
    interpolation = cv2.INTER_AREA if size < min(h, w) else cv2.INTER_LINEAR

    def rs(x):
        return cv2.resize(np.ascontiguousarray(x, np.float32), (size, size),
                          interpolation=interpolation)  # fmt: skip

    return rs(u) * np.float32(size / w), rs(v) * np.float32(size / h), rs(s)


def features(
    onset: np.ndarray,
    apex: np.ndarray,
    size: int | None = None,
    params: TVL1Params = DEFAULT_PARAMS,
) -> np.ndarray:
    """The flow input of one clip: (size, size, 3) float32 channels ``(u, v, strain)``.

    Flow (:func:`tvl1`) and strain (:func:`strain`) at the frames' full size, then
    :func:`resize_flow` (``size`` None: the full size). ``u`` and ``v`` are pixels at
    the output size.

    Raises:
      FlowUnavailable, FlowError: as :func:`tvl1`.
    """
    u, v = tvl1(onset, apex, params)
    s = strain(u, v)
    if size is not None:
        u, v, s = resize_flow(u, v, s, size)
    return np.stack([u, v, s], axis=-1).astype(np.float32)


def minmax(x):
    """Each channel of ``(..., H, W, C)`` min-max normalised over its (H, W) pixels to
    0..255, float32: ``255 (x - min) / (max - min)``; a constant channel becomes 0.

    NumPy arrays give NumPy; JAX arrays (or tracers) give JAX, with the same float32
    arithmetic, so an input pipeline on the device can mirror :func:`to_field_image`
    (which rounds this to uint8).
    """
    if isinstance(x, np.ndarray):
        xp = np
    else:
        import jax.numpy as xp  # noqa: PLC0415 - NumPy callers need no JAX
    x = xp.asarray(x).astype(xp.float32)
    low = x.min(axis=(-3, -2), keepdims=True)
    span = x.max(axis=(-3, -2), keepdims=True) - low
    safe = xp.where(span > 0, span, xp.float32(1.0))
    return xp.where(span > 0, (x - low) * (xp.float32(255.0) / safe), xp.float32(0.0))


def to_field_image(flow_features: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` channels ``(u, v, strain)`` -> the field's flow image: uint8 (H, W,
    3), each channel min-max normalised (:func:`minmax`) and rounded, in the channel
    order ``cv2.imwrite`` takes (strain, v, u: the file's red, green, blue are u, v,
    strain), so ``cv2.imread`` of the written file is laid out as :data:`FIELD_CHANNELS`
    says, as the STSTNet release's images are."""
    x = np.asarray(flow_features)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) channels (u, v, strain), got shape {x.shape}")
    image = np.rint(minmax(x)).astype(np.uint8)
    return np.ascontiguousarray(image[..., _TO_FIELD])


def from_field_image(image: np.ndarray) -> np.ndarray:
    """A field flow image as ``cv2.imread`` returns it (uint8 or float, ``(..., H, W,
    3)``) -> float32 channels ``(u, v, strain)``, values as stored (0..255), reordered by
    :data:`FIELD_CHANNELS`."""
    x = np.asarray(image)
    if x.ndim < 3 or x.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) images, got shape {x.shape}")
    return np.ascontiguousarray(x[..., _FROM_FIELD].astype(np.float32))


# The (u, v, strain) channel at each position of a field image's cv2.imread order.
FIELD_ORDER = tuple(CHANNELS.index(c) for c in sorted(FIELD_CHANNELS, key=FIELD_CHANNELS.get))


def model_input(flow_features):
    """``(..., H, W, 3)`` channels ``(u, v, strain)`` -> what the flow models read: each
    channel min-max normalised to 0..255 (:func:`minmax`, float32, not rounded) and laid
    out as ``cv2.imread`` reads a field image (:data:`FIELD_CHANNELS`). NumPy or JAX, as
    :func:`minmax`. A field image's own values (already normalised) come back unchanged
    up to float rounding, so a model reads computed flow and the release's images alike."""
    return minmax(flow_features)[..., FIELD_ORDER]
