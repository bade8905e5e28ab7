"""Benchmark: decoding untrusted bytes against unrestricted decoders, in the same process.

For each value, the time to
  json read      get_format("json").decode(bytes): names matched as strings, bounded
                 baseline: jsonpickle.decode of jsonpickle's own encoding of the value, with
                 its numpy and pandas handlers (imports and calls anything)
  pickle check   the view's base-class check (check_incoming), which reads opcodes only
                 baseline: pickle.loads of the same bytes (runs anything)
Ratios are baseline time / our time (above 1: faster than the baseline). Each figure
is the median of rounds of interleaved timings. Runs on any tree that has
``persidict.dicts.values.check_incoming`` (for before/after: PYTHONPATH=<old tree>).

    .venv/bin/python scripts/bench_decoders.py [--rounds R]
"""

from __future__ import annotations

import argparse
import collections
import datetime
import decimal
import pickle
import statistics
import time
from collections.abc import Callable
from typing import Any


def values() -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    return {
        "small dict": {"name": "Eliza", "year": 1965, "tags": ["a", "b"], "score": 2.5},
        "stdlib mix": [
            datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone.utc),
            decimal.Decimal("1.10"),
            collections.Counter("aab"),
            {1, 2},
        ],
        "array 10k floats": np.arange(10_000, dtype="float64"),
        "frame 1k rows": pd.DataFrame({"n": range(1000), "x": np.linspace(0, 1, 1000)}),
    }


def best_of(run: Callable[[], Any], repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        run()
    return (time.perf_counter() - start) / repeat


def bench_decoders(rounds: int = 7) -> dict[str, dict[str, float]]:
    """Per value: json read and pickle check ratios (baseline time / our time)."""
    import jsonpickle
    from jsonpickle.ext import numpy as jnp
    from jsonpickle.ext import pandas as jpd

    from persidict.dicts.values import check_incoming
    from persidict.formats import get_format

    fmt_json, fmt_pkl = get_format("json"), get_format("pkl")
    cases = [
        (name, value, fmt_json.encode(value), pickle.dumps(value, protocol=5))
        for name, value in values().items()
    ]
    # jsonpickle's own handlers, for the baseline only (registered after our encoding).
    jnp.register_handlers()
    jpd.register_handlers()
    out: dict[str, dict[str, float]] = {}
    for name, value, text, data in cases:
        cls, plain = type(value), jsonpickle.encode(value, keys=True)
        repeat = 20 if "k" in name else 500
        json_ratios, pickle_ratios = [], []
        for _ in range(rounds):
            ours = best_of(lambda t=text: fmt_json.decode(t), repeat)
            base = best_of(lambda t=plain: jsonpickle.decode(t, keys=True), repeat)
            json_ratios.append(base / ours)
            ours = best_of(lambda d=data, c=cls: check_incoming(d, fmt_pkl, c, "bench"), repeat)
            base = best_of(lambda d=data: pickle.loads(d), repeat)
            pickle_ratios.append(base / ours)
        out[name] = {
            "json read": statistics.median(json_ratios),
            "pickle check": statistics.median(pickle_ratios),
        }
    return out


def decoder_rows(results: dict[str, dict[str, float]]) -> tuple[list[str], list[list[str]]]:
    header = ["decoding (x unrestricted baseline)", "json read", "pickle check"]
    rows = [[name, *(f"{r[k]:.2f}x" for k in header[1:])] for name, r in results.items()]
    return header, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    header, rows = decoder_rows(bench_decoders(args.rounds))
    print(" | ".join(header))
    for row in rows:
        print(" | ".join(row))


if __name__ == "__main__":
    main()
