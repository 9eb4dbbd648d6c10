"""Off-ApexNet (Liong et al., 2019), as the PyTorch port of tvaranka/meb builds it: its
config, the model and the weights' mapping (``params``). Registered as
``"off_apexnet"``: it takes the flow image (and reads its u and v channels)."""

from mmnet_jax.models import registry
from mmnet_jax.models.off_apexnet import params
from mmnet_jax.models.off_apexnet.config import OffApexNetConfig
from mmnet_jax.models.off_apexnet.model import OffApexNet

SPEC = registry.register(
    registry.ModelSpec(
        name="off_apexnet",
        config_class=OffApexNetConfig,
        build=lambda config, rngs: OffApexNet(config, rngs=rngs),
        inputs=("flow",),
        from_torch=params.from_torch,
        to_torch=params.to_torch,
    )
)

__all__ = ["SPEC", "OffApexNet", "OffApexNetConfig", "params"]
