"""Directory trees from flat file listings: what ``find`` and ``walk`` return.

The view lists a store once, recursively (one LIST per 1000 keys on S3),
and derives its directories from the files' paths here. Pure: no I/O.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator
from typing import Any

Info = dict[str, Any]


def dir_info(path: str) -> Info:
    return {"name": path, "size": 0, "type": "directory"}


def parents_below(root: str, name: str) -> list[str]:
    """Folders strictly between ``root`` and ``name``, deepest first."""
    out = []
    parent = posixpath.dirname(name)
    while parent and parent != root:
        out.append(parent)
        parent = posixpath.dirname(parent)
    return out


def depth_below(root: str) -> Callable[[str], int]:
    """Depth of a path below ``root`` (its children are at depth 1)."""
    base = root.count("/") + 1 if root else 0
    return lambda name: name.count("/") + 1 - base


def select(files: dict[str, Info], root: str, maxdepth: int | None, withdirs: bool) -> dict:
    """Files (and folders) below ``root`` down to ``maxdepth``, and the folders holding
    them if ``withdirs``."""
    depth_of = depth_below(root)

    def shallow(name: str) -> bool:
        return maxdepth is None or depth_of(name) <= maxdepth

    found = {n: i for n, i in files.items() if shallow(n)}
    if withdirs:
        for name in files:  # a folder shows even when its files are too deep to
            for parent in parents_below(root, name):
                if shallow(parent):
                    found.setdefault(parent, dir_info(parent))
    return found


Tree = dict[str, tuple[dict[str, Info], dict[str, Info]]]


def tree(files: dict[str, Info], root: str) -> Tree:
    """Folder -> (sub-folders, files), each by name, for every folder from ``root`` down.

    ``files`` may hold folders too (``type`` "directory"): they show though empty.
    """
    out: Tree = {root: ({}, {})}
    for name, info in files.items():
        is_dir = info["type"] == "directory"
        folders = [name, *parents_below(root, name)] if is_dir else parents_below(root, name)
        for folder in reversed(folders):  # top down
            if folder not in out:
                out[folder] = ({}, {})
                out[posixpath.dirname(folder)][0][posixpath.basename(folder)] = dir_info(folder)
        if not is_dir:
            out[posixpath.dirname(name)][1][posixpath.basename(name)] = info
    return out


def walk_tree(
    folders: Tree, root: str, maxdepth: int | None, topdown: bool, detail: bool, depth: int = 1
) -> Iterator[tuple[str, Any, Any]]:
    """``os.walk``-style triples; topdown callers may prune the folder list in place."""
    subdirs, files = folders.get(root, ({}, {}))
    dirs_out = dict(subdirs) if detail else sorted(subdirs)
    files_out = dict(files) if detail else sorted(files)
    if topdown:
        yield root, dirs_out, files_out
    if maxdepth is None or depth < maxdepth:
        for name in list(dirs_out):
            child = f"{root}/{name}" if root else name
            yield from walk_tree(folders, child, maxdepth, topdown, detail, depth + 1)
    if not topdown:
        yield root, dirs_out, files_out
