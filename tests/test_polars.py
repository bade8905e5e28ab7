"""polars: frames in the parquet format, and the ways polars reads through the fsspec view."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import fsspec
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pytest

from persidict import open_dict
from persidict.formats import FormatError, get_format


def _frame(rng: random.Random, rows: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "i": [rng.randint(-(2**40), 2**40) for _ in range(rows)],
            "f": [rng.random() if rng.random() > 0.2 else None for _ in range(rows)],
            "s": [rng.choice(["x", "é", "", "long " * 5]) for _ in range(rows)],
            "t": [
                dt.datetime(2020, 1, 1) + dt.timedelta(seconds=rng.randint(0, 10**8))
                for _ in range(rows)
            ],
            "l": [[rng.randint(0, 9)] * rng.randint(0, 3) for _ in range(rows)],
            "c": pl.Series([rng.choice(["a", "b"]) for _ in range(rows)], dtype=pl.Categorical),
        }
    )


def test_polars_frames_round_trip_through_the_parquet_format():
    fmt = get_format("parquet")
    rng = random.Random(22)
    for rows in (0, 1, 5, 3000):
        frame = _frame(rng, rows)
        back = fmt.decode(fmt.encode(frame))
        assert isinstance(back, pl.DataFrame)
        assert back.schema == frame.schema
        assert back.equals(frame)


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_parquet_dict_stores_polars_and_pandas_frames_side_by_side(backend, tmp_path, request):
    if backend == "local":
        d = open_dict(str(tmp_path / "store"), "parquet")
    else:
        options = request.getfixturevalue("s3_options")
        d = open_dict(f"s3://persidict-tests/pl-{uuid.uuid4().hex[:8]}", "parquet", **options)
    d["polars"] = pl.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    d["pandas"] = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    assert isinstance(d["polars"], pl.DataFrame) and isinstance(d["pandas"], pd.DataFrame)
    assert d["polars"].equals(pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}))
    assert d["pandas"].equals(pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}))


def test_other_values_are_still_refused_naming_their_type():
    with pytest.raises(FormatError, match="pandas or polars DataFrames only, not polars.*Series"):
        get_format("parquet").encode(pl.Series([1, 2]))


def test_the_forms_polars_reads_through_the_view(tmp_path):
    """What the README shows: fs.open, a pyarrow dataset, and URLs with use_pyarrow=True."""
    root = tmp_path / "store"
    fs = fsspec.filesystem("persidict", fo=str(root))
    frame = pl.DataFrame({"name": ["Eliza", "Shoebox"], "year": [1965, 1961]})
    with fs.open("tables/people.parquet", "wb") as f:
        frame.write_parquet(f)
    with fs.open("tables/people.parquet", "rb") as f:
        assert pl.read_parquet(f).equals(frame)
    table = ds.dataset("tables", filesystem=fs, format="parquet").to_table()
    assert pl.from_arrow(table).equals(frame)
    url = f"persidict://tables/people.parquet::file://{root}"
    assert pl.read_parquet(url, use_pyarrow=True).equals(frame)
    with pytest.raises(FileNotFoundError):  # polars' own reader knows no fsspec protocols
        pl.read_parquet(url)
