"""Which channel of the ``flow`` input holds what: the one place the models read it from.

The ``flow`` input (``registry.FRAMES``) is a NHWC float batch ``(B, S, S, 3)`` of the
onset-to-apex optical flow as the field's flow images hold it: the STSTNet release's
``norm_u_v_os`` PNGs read with ``cv2.imread`` (OpenCV's channel order) as float 0..255, no
normalisation. Each channel is the horizontal flow ``u``, the vertical flow ``v`` or the
optical strain, each min-max scaled to 0..255. Models that take all three (STSTNet, HTNet)
read them in this order as the official code does; models that read some (Off-ApexNet:
``u`` and ``v``) pick them by these indices.
"""

# Which channel of a cv2.imread flow image is u, v and strain: the PNGs hold RGB = (u, v,
# strain) and cv2.imread gives them reversed (docs/flow.md; benchmarks/flow_channels.py
# measures it on the STSTNet release's images). The same as
# mmnet_jax.vision.flow.FIELD_CHANNELS (models import nothing of vision;
# tests/test_baseline_models.py keeps the two equal).
U, V, STRAIN = 2, 1, 0
