"""The flow models' inputs on the device: a clip's flow -> the field's flow image.

A run's flow is stored as channels ``(u, v, strain)`` (``mmnet_jax.vision.flow``); the
flow models (STSTNet, Off-ApexNet, HTNet) read it as their official code reads the
STSTNet release's flow images: each channel min-max normalised to 0..255 and laid out as
``cv2.imread`` returns those files (:data:`mmnet_jax.vision.flow.FIELD_CHANNELS`). Both
steps happen here, on the device, after augmentation, so that a model trained on
computed flow reads the release's images and the reverse (a release image is already
normalised: normalising it again changes nothing).

Augmentation of flow is flow-aware: a horizontal flip mirrors the image and negates u
(the horizontal motion changes direction); the strain, a magnitude, only mirrors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from mmnet_jax.vision import flow as flow_lib

_U = flow_lib.CHANNELS.index("u")


def field_image(flow: jax.Array) -> jax.Array:
    """``(..., S, S, 3)`` channels ``(u, v, strain)`` -> the model input: float32 0..255
    per channel, in the field image's channel order (``vision.flow.model_input``)."""
    return flow_lib.model_input(flow)


def flip(flow: jax.Array) -> jax.Array:
    """A horizontal flip of ``(..., S, S, 3)`` ``(u, v, strain)`` flow: mirrored, u negated."""
    mirrored = flow[..., ::-1, :]
    return mirrored.at[..., _U].multiply(-1.0)


def training_batch(key: jax.Array, flow: jax.Array, idx: jax.Array, flip_half: bool) -> jax.Array:
    """The model inputs of clips ``idx`` (B,) for training: with ``flip_half``, each clip
    flipped (:func:`flip`) with probability 1/2; then :func:`field_image`."""
    x = jnp.asarray(flow)[idx].astype(jnp.float32)
    if flip_half:
        coin = jax.random.bernoulli(key, 0.5, (x.shape[0],))
        x = jnp.where(coin[:, None, None, None], flip(x), x)
    return field_image(x)


def eval_batch(flow: jax.Array, idx: jax.Array) -> jax.Array:
    """The model inputs of clips ``idx`` at test time: :func:`field_image`, no augmentation."""
    return field_image(jnp.asarray(flow)[idx].astype(jnp.float32))
