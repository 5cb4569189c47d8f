"""search_table — every arch of a small search space evaluated once on the validation and the test split: a tabular
benchmark (as NAS-Bench-201 / HW-NAS-Bench are), so that search strategies can be compared on exact values, over
many seeds, with the true (exhaustive) Pareto front as the reference.

``bench_search.py`` reads the table this script writes. The default space is the ``uniform`` space of the default
trained super-network of movie-snippets (17,280 archs: depth 1-6, heads 1-12, 24 FFN widths, 10 hidden sizes).

* On a machine with the kit's embedded model and data (the usual case)::

      python benchmarks/search_table.py --device cuda          # or cpu: ~2 s per arch per split on one core

* On a machine without them (a rented GPU with no package registry): write a self-contained *bundle* here — the
  trained super-network with its word embedding cut to the word pieces the two splits use (the logits are
  unchanged: no other row is ever looked up), and the tokenized splits — carry it there, and evaluate it::

      python benchmarks/search_table.py --make-bundle /tmp/bundle          # here
      python benchmarks/search_table.py --bundle /tmp/bundle --device cuda --out DIR   # there

Writes ``<out>/table.json`` (settings, the arch list, per arch and split: errors, mean losses) and
``<out>/correct_<split>.npy`` (``uint8``, per arch the bit-packed correctness of every example: for paired noise
estimates). Evaluation is resumable: a partial ``<out>/partial.npz`` is written every ``--save-every`` archs.
The evaluation is exact up to float rounding: examples are batched by length, as `subnet_kit.evaluate` does
(``--check N`` compares N archs with `subnet_kit.evaluate` and stops if an error differs by more than one example).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

SPLITS = ("validation", "test")
TOKENS_FILE, MODEL_DIR, BUNDLE_META = "tokens.safetensors", "model", "bundle.json"


def log(msg: str) -> None:
    print(f"[search_table {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def all_archs(space: Any) -> list:
    """Every arch of ``space`` (in the order of its genes), for spaces small enough to enumerate."""
    if space.size() > 200_000:
        raise ValueError(f"the space has {space.size():,} archs; a table is for spaces of at most 200,000")
    ranges = [range(int(lo), int(hi) + 1) for lo, hi in zip(space.xl, space.xu)]
    return [space.decode(np.array(x)) for x in itertools.product(*ranges)]


def tokenize(task: Any, tokenizer: Any, max_length: int) -> dict[str, dict[str, np.ndarray]]:
    """Per split: ``ids`` (flat int64 word pieces), ``offsets`` (start of each example), ``labels``."""
    from subnet_kit.data import batches

    out = {}
    for split in SPLITS:
        (b,) = list(batches(task, tokenizer, split=split, batch_size=10 ** 9, max_length=max_length))
        lens = b["attention_mask"].sum(1).numpy()
        ids = np.concatenate([row[:n] for row, n in zip(b["input_ids"].numpy(), lens)])
        out[split] = {"ids": ids.astype(np.int64), "offsets": np.concatenate([[0], np.cumsum(lens)]).astype(np.int64),
                      "labels": b["labels"].numpy().astype(np.int64)}
    return out


def make_bundle(supernet: Any, tokens: dict, out: Path, settings: dict) -> None:
    """Write the bundle: the super-network with its word embedding cut to the used word pieces, and the tokens."""
    from safetensors.numpy import save_file

    from subnet_kit.modules import BertShape
    from subnet_kit.space import ModelDims
    from subnet_kit.supernet import SuperNet

    used = np.unique(np.concatenate([tokens[s]["ids"] for s in SPLITS] + [[supernet.shape.pad_token_id]]))
    remap = np.full(supernet.dims.vocab_size, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    dims = ModelDims(**{**supernet.dims.to_dict(), "vocab_size": int(len(used))})
    shape = BertShape(**{**supernet.shape.__dict__, "dims": dims, "arch": dims.full_arch(),
                         "pad_token_id": int(remap[supernet.shape.pad_token_id]), "extra": dict(supernet.shape.extra)})
    small = SuperNet(shape, tokenizer=None, name=supernet.name)
    state = supernet.state_dict()
    key = next(k for k in state if k.endswith("word_embeddings.weight"))
    state[key] = state[key][torch.as_tensor(used)]
    small.load_state_dict(state, strict=True)
    out.mkdir(parents=True, exist_ok=True)
    small.save(out / MODEL_DIR)
    arrays = {f"{s}.{k}": (remap[v] if k == "ids" else v) for s in SPLITS for k, v in tokens[s].items()}
    save_file(arrays, str(out / TOKENS_FILE))
    (out / BUNDLE_META).write_text(json.dumps({**settings, "full_dims": supernet.dims.to_dict()}, indent=1))
    log(f"bundle in {out}: {len(used)} of {supernet.dims.vocab_size} word pieces kept")


def load_bundle(path: Path, device: str) -> tuple[Any, dict, dict]:
    from safetensors.numpy import load_file

    from subnet_kit.supernet import SuperNet

    model = SuperNet.load(path / MODEL_DIR, device=device)
    flat = load_file(str(path / TOKENS_FILE))
    tokens = {s: {k: flat[f"{s}.{k}"] for k in ("ids", "offsets", "labels")} for s in SPLITS}
    return model, tokens, json.loads((path / BUNDLE_META).read_text())


class Batches:
    """The examples of a split sorted by length and cut into padded batches of at most ``max_tokens`` tokens,
    on ``device`` once (every arch reuses them)."""

    def __init__(self, tok: dict[str, np.ndarray], pad_id: int, device: str, max_tokens: int) -> None:
        lens = np.diff(tok["offsets"])
        order = np.argsort(lens, kind="stable")
        self.n = len(lens)
        self.batches = []
        start = 0
        while start < self.n:
            stop = start + 1
            while stop < self.n and (stop - start + 1) * lens[order[stop]] <= max_tokens:
                stop += 1
            idx = order[start:stop]
            t = int(lens[idx].max())
            ids = np.full((len(idx), t), pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), t), dtype=np.int64)
            for r, i in enumerate(idx):
                a, b = tok["offsets"][i], tok["offsets"][i + 1]
                ids[r, : b - a], mask[r, : b - a] = tok["ids"][a:b], 1
            self.batches.append((torch.as_tensor(ids, device=device), torch.as_tensor(mask, device=device),
                                 torch.as_tensor(tok["labels"][idx], device=device), torch.as_tensor(idx)))
            start = stop

    def evaluate(self, model: Any) -> tuple[np.ndarray, float]:
        """``(correct per example in split order (bool), mean cross-entropy)`` of the active sub-network."""
        correct = torch.zeros(self.n, dtype=torch.bool)
        loss = 0.0
        for ids, mask, labels, idx in self.batches:
            logits = model(ids, mask, torch.zeros_like(ids)).float()
            loss += float(F.cross_entropy(logits, labels, reduction="sum"))
            correct[idx] = (logits.argmax(-1) == labels).cpu()
        return correct.numpy(), loss / self.n


def _model_modules_only() -> None:
    """A bundle needs only the kit's model modules: where the data packages are missing (a bare GPU machine), load
    the package without its ``__init__`` (which imports them all) so that ``subnet_kit.supernet`` still imports."""
    import importlib.util
    import types

    def present(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ImportError:
            return False

    if "subnet_kit" in sys.modules or all(present(m) for m in ("datasets", "pymoo", "optuna")):
        return
    pkg = types.ModuleType("subnet_kit")
    pkg.__path__ = [str(Path(__file__).resolve().parents[1] / "subnet_kit")]
    sys.modules["subnet_kit"] = pkg


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="minilm-l6")
    p.add_argument("--task", default="movie-snippets")
    p.add_argument("--space", default="uniform", help="granularity of the tabulated space (default uniform)")
    p.add_argument("--seed", type=int, default=0, help="training seed of the super-network")
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--max-tokens", type=int, default=16384, help="tokens per evaluation batch")
    p.add_argument("--make-bundle", default=None, metavar="DIR", help="write a self-contained bundle and stop")
    p.add_argument("--bundle", default=None, metavar="DIR", help="evaluate a bundle (no embedded packages needed)")
    p.add_argument("--archs", default=None, metavar="FILE", help="a JSON list of archs (Arch.to_json strings) to "
                   "evaluate instead of the whole space (a bundle's archs.json is used when present)")
    p.add_argument("--limit", type=int, default=None, help="only the first N archs (a smoke test)")
    p.add_argument("--check", type=int, default=0, help="compare N archs with subnet_kit.evaluate first")
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--out", default=None, help="default: the kit's cache, search-table/<settings>")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.bundle:
        _model_modules_only()
    from subnet_kit.space import ModelDims, SearchSpace

    if args.bundle:
        model, tokens, settings = load_bundle(Path(args.bundle), args.device)
        space = SearchSpace.for_model(ModelDims(**settings["full_dims"]), settings["space"])
        task = None
    else:
        from subnet_kit.recipes import trained_supernet

        model, _, task, trained = trained_supernet(args.model, args.task, "per-layer", seed=args.seed, progress=False)
        space = SearchSpace.for_model(model, args.space)
        tokens = tokenize(task, model.tokenizer, args.max_length)
        settings = {"model": args.model, "task": args.task, "space": args.space, "seed": args.seed,
                    "max_length": args.max_length, "supernet": Path(trained.from_cache).name
                    if trained is not None and trained.from_cache else None}
        if args.make_bundle:
            make_bundle(model, tokens, Path(args.make_bundle), settings)
            return
        model = model.to(args.device)
    model.eval()
    archs_file = Path(args.archs) if args.archs else (Path(args.bundle) / "archs.json" if args.bundle and
                                                        (Path(args.bundle) / "archs.json").is_file() else None)
    if archs_file is not None:  # a given list of archs (JSON strings of Arch.to_json) instead of the whole space
        from subnet_kit.space import Arch

        archs = [Arch.from_json(a) for a in json.loads(archs_file.read_text())][: args.limit]
    else:
        archs = all_archs(space)[: args.limit]
    sets = {s: Batches(tokens[s], model.shape.pad_token_id, args.device, args.max_tokens) for s in SPLITS}
    log(f"{len(archs)} archs of the {settings['space']} space, {[sets[s].n for s in SPLITS]} examples, "
        f"{[len(sets[s].batches) for s in SPLITS]} batches, device {args.device}")
    if args.check:
        if task is None:
            raise SystemExit("--check needs the task (not a bundle)")
        from subnet_kit.train import evaluate

        rng = np.random.default_rng(0)
        for i in rng.choice(len(archs), size=args.check, replace=False):
            with torch.inference_mode(), model.activate(archs[i]):
                mine = 1 - sets["validation"].evaluate(model)[0].mean()
            ref = evaluate(model, task, "validation", arch=archs[i], batch_size=64, max_length=args.max_length)["error"]
            log(f"check {archs[i].short()}: table {mine:.5f} evaluate {ref:.5f}")
            if abs(mine - ref) > 1.5 / sets["validation"].n:
                raise SystemExit("the table's evaluation differs from subnet_kit.evaluate")
    out = Path(args.out) if args.out else None
    if out is None:
        from subnet_kit._paths import cache_dir

        out = cache_dir("search-table") / f"{settings['model']}-{settings['task']}-{settings['space']}-seed{settings['seed']}"
    out.mkdir(parents=True, exist_ok=True)
    n = len(archs)
    err = {s: np.full(n, np.nan) for s in SPLITS}
    loss = {s: np.full(n, np.nan) for s in SPLITS}
    bits = {s: np.zeros((n, (sets[s].n + 7) // 8), dtype=np.uint8) for s in SPLITS}
    partial = out / "partial.npz"
    done = 0
    if partial.exists():
        with np.load(partial, allow_pickle=False) as z:
            done = int(z["done"])
            for s in SPLITS:
                err[s][:done], loss[s][:done], bits[s][:done] = z[f"err_{s}"][:done], z[f"loss_{s}"][:done], z[f"bits_{s}"][:done]
        log(f"resuming after {done} archs")
    t_eval = time.perf_counter()
    with torch.inference_mode():
        for i in range(done, n):
            with model.activate(archs[i]):
                for s in SPLITS:
                    c, l = sets[s].evaluate(model)
                    err[s][i], loss[s][i], bits[s][i] = 1 - c.mean(), l, np.packbits(c)
            if (i + 1) % args.save_every == 0 or i + 1 == n:
                np.savez(partial, done=i + 1, **{f"{k}_{s}": v[s] for k, v in (("err", err), ("loss", loss), ("bits", bits))
                                               for s in SPLITS})
                rate = (i + 1 - done) / (time.perf_counter() - t_eval)
                log(f"{i + 1}/{n} archs ({rate:.1f}/s)")
    table = {
        "settings": {**settings, "device": args.device, "torch": torch.__version__, "max_tokens": args.max_tokens,
                     "examples": {s: sets[s].n for s in SPLITS}, "space_dict": space.to_dict(),
                     "eval_s": time.perf_counter() - t_eval, "wall_s": time.perf_counter() - t0},
        "archs": [a.to_json() for a in archs],
        **{f"error_{s}": err[s].tolist() for s in SPLITS},
        **{f"loss_{s}": loss[s].tolist() for s in SPLITS},
    }
    (out / "table.json").write_text(json.dumps(table))
    for s in SPLITS:
        np.save(out / f"correct_{s}.npy", bits[s])
    log(f"wrote {out}/table.json ({n} archs) in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
