"""subnet-kit: multi-objective search of BERT sub-networks (headless library; the Jupyter layer is
``subnet_kit_widgets``).

    from subnet_kit import SuperNet, SearchSpace, load_task, fine_tune, evaluate, search
    task = load_task("movie-snippets")
    supernet = SuperNet.from_pretrained("minilm-l6", num_labels=task.num_labels)
    fine_tune(supernet, task, max_steps=300)
    space = SearchSpace.for_model(supernet, "per-layer")
    arch = space.sample(rng=0)
    print(evaluate(supernet, task, arch=arch), space.params(arch))
    supernet.extract(arch).save("my-subnetwork")

    result = search(supernet, space, task, ["error", "latency"], strategy="nsga2", budget=100,
                    constraints=["latency <= 15"], log="runs/x/search.jsonl")
    print(result.pareto()[["error", "latency", "arch"]], result.hypervolume())
"""

from .data import Task, load_task
from .objectives import Constraint, Error, Flops, Latency, LatencyPredictor, Memory, Objective, Params
from .recipes import train_supernet, trained_supernet
from .search import Callback, Result, Search, search
from .space import Arch, ModelDims, SearchSpace
from .supernet import SubNetwork, SuperNet, load_subnet
from .train import TrainConfig, distill, evaluate, fine_tune

__all__ = [
    "Arch", "ModelDims", "SearchSpace", "SuperNet", "SubNetwork", "Task",
    "TrainConfig", "distill", "evaluate", "fine_tune", "train_supernet", "trained_supernet", "load_subnet", "load_task",
    "search", "Search", "Result", "Callback",
    "Objective", "Error", "Params", "Flops", "Latency", "Memory", "Constraint", "LatencyPredictor",
]
__version__ = "0.1.0"
