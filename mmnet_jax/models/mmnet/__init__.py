"""MMNet (Li et al., IJCAI 2022): its config, parts, the whole model (``model``) and the
official PyTorch weights' mapping (``params``)."""
