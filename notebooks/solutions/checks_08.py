"""Checks for the exercises of lesson 08 (scaling out on Ray). Each computes the expected answer from the objects
the lesson made, then prints right or wrong through `subnet_kit_widgets.checks`;
an answer that is still ``None`` prints "not yet" and never raises."""

from __future__ import annotations

from subnet_kit_widgets.checks import check, check_true


def _front(result):
    cols = list(result.objectives)
    return sorted(map(tuple, result.pareto()[cols].to_numpy().tolist()))


def check_same_front(a, b) -> bool:
    """Exercise 1: two searches found the same archs with the same values, hence the same front."""
    if a is None or b is None:
        return check_true(False, what="same archs, same values, same front", hint="pass the Results of both searches")

    def values(r):
        cols = list(r.objectives)
        return {arch: tuple(v) for arch, v in zip(r.history.arch, r.history[cols].to_numpy().tolist())}

    same_values = values(a) == values(b)
    return check_true(same_values and _front(a) == _front(b), what="same archs, same values, same front",
                      hint="are the objectives deterministic, and does the strategy see the same values?")


def check_serial_fraction(answer, serial_s: float, parallel_s: float, workers: int) -> bool:
    """Exercise 2: the serial fraction s of Amdahl's law, speed-up = 1 / (s + (1 - s) / N), solved for s."""
    speedup = serial_s / parallel_s
    expected = (workers / speedup - 1) / (workers - 1)
    return check(answer, expected, what=f"serial fraction at {speedup:.2f}x with {workers} workers", tol=1e-6)


def check_latency_placement(result) -> bool:
    """Exercise 3: every record of a per-worker latency search says where its latency was timed."""
    if result is None:
        return check_true(False, what="every record carries latency_host and latency_device",
                          hint="pass the Result of your search")
    h = result.history
    ok = {"latency_host", "latency_device"} <= set(h.columns) and h["latency_host"].notna().all()
    return check_true(ok, what="every record carries latency_host and latency_device",
                      hint='pass worker_options={"latency": "per-worker"}')
