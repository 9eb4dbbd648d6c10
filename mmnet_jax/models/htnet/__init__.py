"""HTNet (Wang et al., Neurocomputing 2024): its config, the block assembly (``blocks``),
the model and the official PyTorch weights' mapping (``params``). Registered as
``"htnet"``: it takes the flow image."""

from mmnet_jax.models import registry
from mmnet_jax.models.htnet import blocks, params
from mmnet_jax.models.htnet.config import HTNetConfig, template_centres
from mmnet_jax.models.htnet.model import HTNet

SPEC = registry.register(
    registry.ModelSpec(
        name="htnet",
        config_class=HTNetConfig,
        build=lambda config, rngs: HTNet(config, rngs=rngs),
        inputs=("flow",),
        from_torch=params.from_torch,
        to_torch=params.to_torch,
    )
)

__all__ = ["SPEC", "HTNet", "HTNetConfig", "blocks", "params", "template_centres"]
