"""subnet-kit: multi-objective search of BERT sub-networks (headless library; the Jupyter layer is
``subnet_kit_widgets``)."""

from .space import Arch, ModelDims, SearchSpace
from .supernet import SubNetwork, SuperNet, load_subnet

__all__ = ["Arch", "ModelDims", "SearchSpace", "SuperNet", "SubNetwork", "load_subnet"]
__version__ = "0.1.0"
