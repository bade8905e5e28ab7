"""S3 requests per operation: the fsspec view next to the dict it shows.

Starts a moto S3 server on 127.0.0.1, fills a json store, and prints how
many HTTP requests each operation sends (counted with a botocore event
hook), through the dict and through the view. Usage:

    .venv/bin/python scripts/fs_requests.py [n_keys]
"""

from __future__ import annotations

import os
import sys

from persidict import open_dict
from persidict.testing import count_s3_requests, moto_server
from persidict_fs import PersiDictFileSystem


def main(n_keys: int) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(var, "testing")
    with moto_server() as endpoint:
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "x"}
        d = open_dict("s3://bench/store", "json", create_bucket=True, **options)
        d.setitems({(f"d{i % 10}", f"k{i}"): i for i in range(n_keys)})
        fs = PersiDictFileSystem(dict=d)
        # Keys are listed with a comprehension: list(d) would call len(d) first,
        # a second full listing.
        rows = [
            ("read one value", lambda: d["d1", "k1"], lambda: fs.cat_file("d1/k1.json")),
            ("read via open()", None, lambda: fs.open("d1/k1.json", "rb").read()),
            ("read a byte range", None, lambda: fs.cat_file("d1/k1.json", 0, 1)),
            (
                "write one value",
                lambda: d.__setitem__(("n", "a"), 1),
                lambda: fs.pipe_file("n/b.json", b"1"),
            ),
            ("exists (file)", lambda: ("d1", "k1") in d, lambda: fs.exists("d1/k1.json")),
            ("isdir", None, lambda: fs.isdir("d1")),
            ("ls one folder", None, lambda: fs.ls("d1")),
            (f"all {n_keys} keys / find", lambda: [k for k in d], lambda: fs.find("")),
            ("walk (ls -R)", None, lambda: list(fs.walk(""))),
            ("glob **/k1*.json", None, lambda: fs.glob("**/k1*.json")),
        ]
        print(f"{'operation':28} {'dict':>24} {'view':>24}")
        for name, via_dict, via_view in rows:
            cells = []
            for op in (via_dict, via_view):
                if op is None:
                    cells.append("-")
                    continue
                with count_s3_requests(d.store) as sent:
                    op()
                cells.append(", ".join(f"{n}={c}" for n, c in sorted(sent.items())))
            print(f"{name:28} {cells[0]:>24} {cells[1]:>24}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2500)
