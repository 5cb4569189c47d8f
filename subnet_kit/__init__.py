"""subnet-kit: multi-objective search of BERT sub-networks (headless library; the Jupyter layer is
``subnet_kit_widgets``).

    from subnet_kit import SuperNet, SearchSpace, load_task, fine_tune, evaluate
    task = load_task("movie-snippets")
    supernet = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels)
    fine_tune(supernet, task, max_steps=300)
    space = SearchSpace.for_model(supernet, "per-layer")
    arch = space.sample(rng=0)
    print(evaluate(supernet, task, arch=arch), space.params(arch))
    supernet.extract(arch).save("my-subnetwork")
"""

from .data import Task, load_task
from .space import Arch, ModelDims, SearchSpace
from .supernet import SubNetwork, SuperNet, load_subnet
from .train import distill, evaluate, fine_tune

__all__ = [
    "Arch", "ModelDims", "SearchSpace", "SuperNet", "SubNetwork", "Task",
    "distill", "evaluate", "fine_tune", "load_subnet", "load_task",
]
__version__ = "0.1.0"
