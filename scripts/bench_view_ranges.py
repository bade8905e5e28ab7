"""Bytes a one-column parquet read through the view fetches from S3 (moto), in one run.

    .venv/bin/python scripts/bench_view_ranges.py [--rows 1000000] [--columns 8]

Writes a frame of float columns as one parquet file on S3 through the view,
then reads one column back with pandas through a ``persidict://`` URL.
Prints the GET requests and bytes S3 sent, against the bytes that column and
the footer occupy (target: at most 1.2x) and against the file's size.
"""

from __future__ import annotations

import argparse
import io
import os
import uuid
from collections import Counter

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from persidict.storage.s3 import S3Store
from persidict.testing import moto_server
from persidict_fs import PersiDictFileSystem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=8)
    args = parser.parse_args()
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    with moto_server() as endpoint:
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        S3Store("bench", create_bucket=True, **options)
        url = f"s3://bench/{uuid.uuid4().hex[:8]}"
        fs = PersiDictFileSystem(fo=url, **options)
        rng = np.random.default_rng(0)
        frame = pd.DataFrame({f"c{i}": rng.random(args.rows) for i in range(args.columns)})
        buffer = io.BytesIO()
        frame.to_parquet(buffer, row_group_size=args.rows)
        fs.pipe_file("t.parquet", buffer.getvalue())
        meta = pq.ParquetFile(io.BytesIO(buffer.getvalue())).metadata
        needed = meta.row_group(0).column(1).total_compressed_size + meta.serialized_size + 8

        got: Counter = Counter()

        def count(parsed=None, **kwargs: object) -> None:
            got["GET"] += 1
            got["bytes"] += int((parsed or {}).get("ContentLength") or 0)

        client = fs.store.requests.run(fs.store.fs.set_session)
        client.meta.events.register("after-call.s3.GetObject", count)
        back = pd.read_parquet("t.parquet", columns=["c1"], filesystem=fs)
        assert back["c1"].equals(frame["c1"])
        size = len(buffer.getvalue())
        print(f"file {size / 1e6:.1f} MB, column c1 + footer {needed / 1e6:.2f} MB")
        print(
            f"one-column read: {got['GET']} GETs, {got['bytes'] / 1e6:.2f} MB = "
            f"{got['bytes'] / needed:.2f}x the column and footer (target <= 1.2x), "
            f"{got['bytes'] / size:.2f}x the file"
        )


if __name__ == "__main__":
    main()
