"""MMNet (Li et al., IJCAI 2022): its config, parts, the whole model (``model``) and the
official PyTorch weights' mapping (``params``). Registered as ``"mmnet"``: it takes an
onset and an apex frame."""

from mmnet_jax.models import registry
from mmnet_jax.models.mmnet import params
from mmnet_jax.models.mmnet.config import MMNetConfig
from mmnet_jax.models.mmnet.model import MMNet

SPEC = registry.register(
    registry.ModelSpec(
        name="mmnet",
        config_class=MMNetConfig,
        build=lambda config, rngs: MMNet(config, rngs=rngs),
        inputs=("onset", "apex"),
        from_torch=params.mmnet_from_torch,
        to_torch=params.mmnet_to_torch,
    )
)
