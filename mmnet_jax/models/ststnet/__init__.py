"""STSTNet (Liong et al., FG 2019): its config, the model and the official PyTorch
weights' mapping (``params``). Registered as ``"ststnet"``: it takes the flow image."""

from mmnet_jax.models import registry
from mmnet_jax.models.ststnet import params
from mmnet_jax.models.ststnet.config import STSTNetConfig
from mmnet_jax.models.ststnet.model import STSTNet

SPEC = registry.register(
    registry.ModelSpec(
        name="ststnet",
        config_class=STSTNetConfig,
        build=lambda config, rngs: STSTNet(config, rngs=rngs),
        inputs=("flow",),
        from_torch=params.from_torch,
        to_torch=params.to_torch,
    )
)

__all__ = ["SPEC", "STSTNet", "STSTNetConfig", "params"]
