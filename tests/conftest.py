"""Shared fixtures: a tiny random BERT for most tests, the real embedded MiniLM where the real thing matters."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub here: fail fast instead of retrying connections
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest
import torch
from transformers import BertConfig

from subnet_kit import SuperNet

TINY = dict(
    vocab_size=120, hidden_size=64, num_hidden_layers=3, num_attention_heads=4, intermediate_size=128,
    max_position_embeddings=64, type_vocab_size=2,
)


def tiny_supernet(pooling: str = "mean", num_labels: int = 3, seed: int = 0) -> SuperNet:
    return SuperNet.from_config(BertConfig(**TINY), num_labels=num_labels, pooling=pooling, seed=seed).eval()


def random_batch(vocab: int, batch: int = 4, seq: int = 12, seed: int = 0, labels: int = 3) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (batch, seq), generator=g)
    mask = torch.ones_like(ids)
    mask[1, seq // 2 :] = 0  # one padded example
    if batch > 2:
        mask[2, seq - 2 :] = 0
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.randint(0, labels, (batch,), generator=g)}


@pytest.fixture
def one_thread():
    """One CPU thread: the machine is shared, and two contending threads make tiny forwards 100x slower."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def tiny() -> SuperNet:
    return tiny_supernet()


@pytest.fixture(scope="session")
def minilm() -> SuperNet:
    return SuperNet.from_pretrained("minilm-l6", num_labels=2).eval()


@pytest.fixture(scope="session")
def minilm_batch(minilm: SuperNet) -> dict[str, torch.Tensor]:
    sentences = [
        "A gorgeous, witty, seductive movie.",
        "The plot is nothing but boilerplate cliches from start to finish.",
        "It's a charming and often affecting journey.",
        "Too long, too loud and far too pleased with itself.",
    ]
    enc = minilm.tokenizer(sentences, padding=True, return_tensors="pt")
    return {**enc, "labels": torch.tensor([1, 0, 1, 0])}


WORDS = [f"w{i}" for i in range(90)] + ["good", "great", "fine", "bad", "awful", "poor"]


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    """A word-level BERT tokenizer over ~100 words (fits the tiny BERT's 120-token vocabulary)."""
    from transformers import BertTokenizer

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tok = BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    tok.name_or_path = "tiny-word-tokenizer"
    return tok


@pytest.fixture(scope="session")
def tiny_task(tmp_path_factory):
    """A learnable 2-class task: the label says whether positive or negative sentiment words dominate."""
    import random

    from subnet_kit.data import load_task

    rng = random.Random(0)
    rows = ["text,label"]
    for _ in range(400):
        pos = rng.random() < 0.5
        words = [rng.choice(WORDS[:90]) for _ in range(rng.randint(4, 14))]
        words += [rng.choice(WORDS[90:93] if pos else WORDS[93:]) for _ in range(2)]
        rng.shuffle(words)
        rows.append(f"{' '.join(words)},{'pos' if pos else 'neg'}")
    d = tmp_path_factory.mktemp("task")
    (d / "tiny.csv").write_text("\n".join(rows) + "\n")
    return load_task(str(d / "tiny.csv"), cache_dir=d / "cache")


@pytest.fixture
def tiny_with_tokenizer(tiny_tokenizer):
    sn = tiny_supernet(num_labels=2)
    sn.tokenizer = tiny_tokenizer
    return sn


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray with 2 CPUs for one test module (started and shut down here unless one was already running)."""
    ray = pytest.importorskip("ray", reason='ray is not installed (pip install "subnet-kit[ray]")')
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    if started:
        ray.shutdown()


def sigkill_after_evaluations(script: str, log, n: int, *args: str) -> list[dict]:
    """Run ``script`` (Python source; argv: the log path, then ``args``) in a subprocess, SIGKILL it once ``log`` holds
    ``n`` evaluations, and return the evaluations of the log's complete lines (a torn last line is left out)."""
    import json
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    path = Path(log).with_name("killed.py")
    path.write_text(script)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(path), str(log), *args], env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if Path(log).exists() and Path(log).read_text().count('"kind": "eval"') >= n:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"the search ended before it was killed: {proc.stderr.read().decode()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stderr.close()
    text = Path(log).read_text()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()[1:]]  # complete lines only
