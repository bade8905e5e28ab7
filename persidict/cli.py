"""The persidict command: list, read, write, copy, describe and mount stores.

Stores are URLs (a folder path, ``s3://bucket/prefix``, ``memory://...``, any
fsspec URL); keys are written ``a/b/c``. The format is guessed from the
stored files unless ``--format`` says it. S3 settings come from the usual
AWS environment variables, ``--endpoint-url`` and ``-o key=value``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

from fsspec.core import split_protocol

from persidict.dicts.base import PersiDict
from persidict.dicts.url import guess_format, open_dict
from persidict.formats import Format, FormatError, decoding_format, format_names, get_format
from persidict.keys import normalize_key
from persidict.storage.base import Entry, RootNotFoundError

BATCH = 256

HELP_FORMS = """\
STORE URLs:
  a folder      /data/store, ./store, file:///data/store
  S3            s3://bucket/prefix          (credentials: the usual AWS_* variables)
  any fsspec    memory://scratch, gs://bucket/prefix, ...
KEYS are parts joined by '/', each of A-Z a-z 0-9 ( ) _ - ~ . = (no '.' or '..'):
  persidict get /data/store Eliza/year      is the key ("Eliza", "year"), file Eliza/year.<ext>
STORAGE OPTIONS go to a remote store's filesystem (never to a local folder):
  --endpoint-url http://127.0.0.1:9000      (or PERSIDICT_ENDPOINT_URL; S3, GCS, Azure)
  -o anon=true -o client_kwargs='{"region_name": "eu-west-1"}'   (values: number,
                true/false, JSON, else text; an unknown option is an error)
"""


STORE = "the store: a folder, s3://bucket/prefix or any fsspec URL (see below)"
KEY = "a key: its parts joined by '/', e.g. Eliza/year"


class UsageError(Exception):
    """A mistake on the command line: one line on stderr, exit status 2."""


def _option_value(text: str) -> Any:
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    if text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            raise UsageError(f"-o value {text!r} is not valid JSON") from None
    return {"true": True, "false": False}.get(text.lower(), text)


def _is_local(url: str) -> bool:
    return split_protocol(url)[0] in (None, "file", "local")


def _is_s3(url: str) -> bool:
    return split_protocol(url)[0] in ("s3", "s3a")


def _takes_endpoint(url: str) -> bool:
    """Stores whose ``endpoint_url`` option the ``--endpoint-url`` flag sets (the clouds)."""
    return split_protocol(url)[0] in ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss")


def _options_given(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in args.option or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-o takes key=value, got {pair!r}")
        options[key] = _option_value(value)
    return options


def storage_options(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """``-o key=value`` pairs and the S3 endpoint, as storage options for ``url``.

    A local folder takes none (``cp`` from a folder to S3 gives S3's); the
    endpoint (``--endpoint-url`` or ``PERSIDICT_ENDPOINT_URL``) goes to S3, GCS and Azure URLs.
    """
    if _is_local(url):
        return {}
    options = _options_given(args)
    endpoint = args.endpoint_url or os.environ.get("PERSIDICT_ENDPOINT_URL")
    if endpoint and _takes_endpoint(url):
        options["endpoint_url"] = endpoint
    return options


# open_dict's own, beside the fs's
_DICT_OPTIONS = {"digest_len", "create_bucket", "region", "single_process"}


def _accepted_options(url: str) -> set[str] | None:
    """Option names the store at ``url`` takes, or None if it takes any."""
    protocol = split_protocol(url)[0]
    names = set(_DICT_OPTIONS)
    if protocol in ("s3", "s3a"):
        import s3fs
        from aiobotocore.session import AioSession  # s3fs hands its extra options to it

        from persidict.storage.s3_requests import OWN_OPTIONS

        classes: list[Any] = [s3fs.S3FileSystem, AioSession]
        names.update(OWN_OPTIONS)  # the S3 store's own (request_timeout, ...)
    elif protocol in ("gs", "gcs"):
        from gcsfs.core import GCSFileSystem

        from persidict.storage.gcs.requests import OWN_OPTIONS

        # GCSFileSystem takes **kwargs for fsspec's caches only: a typo is an error here.
        named = set(inspect.signature(GCSFileSystem.__init__).parameters)
        own = set(_DICT_OPTIONS) | set(OWN_OPTIONS)
        return own | (named - {"self", "kwargs", "loop", "asynchronous"})
    elif protocol in ("az", "abfs", "abfss"):
        from persidict.storage.azure import requests as azure

        return set(_DICT_OPTIONS) | set(azure.OWN_OPTIONS) | set(azure.CLIENT_OPTIONS)
    else:
        import fsspec

        classes = [fsspec.get_filesystem_class(protocol)]
    for cls in classes:
        params = inspect.signature(cls.__init__).parameters.values()
        if cls is classes[0] and len(classes) == 1 and any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        names.update(
            p.name for p in params if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD
        )
    return names - {"self", "loop", "asynchronous"}


def check_options(args: argparse.Namespace) -> None:
    """A one-line UsageError for an ``-o`` option that no store of the command takes."""
    given = _options_given(args)
    if not given:
        return
    urls = [u for u in (getattr(args, n, None) for n in ("url", "src", "dst")) if u]
    remote = [u for u in urls if not _is_local(u)]
    if not remote:
        raise UsageError(f"-o {next(iter(given))}: a local folder takes no storage options")
    accepted: set[str] = set()
    for url in remote:
        try:
            names = _accepted_options(url)
        except (ImportError, ValueError):
            return  # no filesystem to ask: it will say so itself
        if names is None:
            return
        accepted |= names
    for name in given:
        if name not in accepted:
            raise UsageError(
                f"unknown storage option {name!r} (-o {name}=...) for {', '.join(remote)}; "
                "see persidict --help"
            )


def refuse_copy_into_itself(args: argparse.Namespace) -> None:
    """A UsageError if one of ``cp``'s stores lies inside the other (it would copy itself)."""

    def place(url: str) -> tuple[str, str]:
        protocol, path = split_protocol(url)
        if _is_local(url):
            return "file", os.path.realpath(path)
        return ("s3" if _is_s3(url) else protocol or ""), "/" + path.strip("/")

    (p1, src), (p2, dst) = place(args.src), place(args.dst)
    inside = (
        src == dst or dst.startswith(src.rstrip("/") + "/") or src.startswith(dst.rstrip("/") + "/")
    )
    if p1 == p2 and inside:
        raise UsageError(f"cannot copy {args.src} to {args.dst}: one store lies inside the other")


def open_url(
    args: argparse.Namespace, url: str, fmt: str | Format | None = None, *, create: bool = False
) -> PersiDict:
    """The dict at ``url`` in format ``fmt`` (default: --format, else guessed).

    A local folder must exist unless ``create``.
    """
    path = split_protocol(url)[1]
    options = storage_options(args, url)
    if _is_local(url) and not create and not os.path.isdir(path):
        raise UsageError(f"no store at {url!r}: not a folder")
    return open_dict(url, fmt or store_format(args, url), **options)


def store_format(args: argparse.Namespace, url: str, *, own: bool = False) -> str:
    """The format of the store at ``url``: --format, else read from its files' extensions.

    ``own`` ignores --format (``cp`` reads the source in its own format).
    A guess is kept in ``args.guessed`` so that messages can say how the store was opened.
    """
    if args.format and not own:
        return str(args.format)
    name = guess_format(url, **storage_options(args, url))
    args.guessed = {**getattr(args, "guessed", {}), url: name}
    return name


def opened_as(args: argparse.Namespace, url: str) -> str:
    """`` (opened as pkl, from its files' extensions)`` when the format of ``url`` was guessed."""
    name = getattr(args, "guessed", {}).get(url)
    return f" (opened as {name}, from its files' extensions; --format to choose)" if name else ""


def open_decoding(args: argparse.Namespace, url: str) -> PersiDict:
    """The dict at ``url`` for reading values: data only unless --trust (the one trust rule).

    Without --trust a pickle is built from plain data types only and json
    decodes data only, so nothing a stored file names runs; --trust decodes
    everything, for stores whose every writer the user trusts.
    """
    return open_url(args, url, decoding_format(store_format(args, url), trusted=args.trust))


def trust_hint(args: argparse.Namespace, url: str, exc: FormatError) -> FormatError:
    """``exc`` with how to decode more, when it was decoded as data only."""
    if args.trust:
        return exc
    return FormatError(
        f"{exc} (decoded as data only; add --trust if you trust every writer of {url})"
    )


def parse_key(text: str) -> tuple[str, ...]:
    """``a/b/c`` -> ``("a", "b", "c")``, validated (ValueError naming a bad part)."""
    return normalize_key(text.strip("/").split("/"))


def show_key(key: tuple[str, ...]) -> str:
    """``("a", "b")`` -> ``a/b``, as keys are written on the command line."""
    return "/".join(key)


def keys_under(d: PersiDict, prefix: str | None) -> Iterator[tuple[str, ...]]:
    """Keys starting with the parts of ``prefix``, from one listing of that folder."""
    if not prefix:
        yield from d
        return
    parts = parse_key(prefix)
    for key in d.get_subdict(parts):
        yield (*parts, *key)
    if parts in d:  # the prefix may itself be a key
        yield parts


def cmd_ls(args: argparse.Namespace) -> None:
    d = open_url(args, args.url)
    for key in sorted(keys_under(d, args.prefix)):
        print(show_key(key))


def _write_value(value: Any) -> None:
    if isinstance(value, (bytes, bytearray)):
        sys.stdout.buffer.write(value)
        sys.stdout.buffer.flush()
    elif isinstance(value, str):
        print(value)
    else:
        try:
            print(json.dumps(value, indent=2, ensure_ascii=False))
        except (TypeError, ValueError):
            print(repr(value))


def cmd_get(args: argparse.Namespace) -> None:
    d = open_decoding(args, args.url)
    key = parse_key(args.key)
    try:
        value = d[key]
    except KeyError:
        raise KeyError(f"no key {args.key!r} in {args.url}{opened_as(args, args.url)}") from None
    except FormatError as exc:
        raise trust_hint(args, args.url, exc) from None
    if args.as_json:
        from persidict_fs.render import CannotRender, render

        try:
            sys.stdout.buffer.write(render(value))
        except CannotRender as exc:
            raise ValueError(f"cannot show {args.key!r} as JSON: {exc}") from None
        return
    _write_value(value)


def cmd_set(args: argparse.Namespace) -> None:
    d = open_url(args, args.url, create=True)
    raw = args.value.encode() if args.value is not None else sys.stdin.buffer.read()
    if d.serialization_format == "bytes":
        value: Any = raw
    else:
        text = raw.decode().removesuffix("\n")  # what echo adds
        try:
            value = text if d.serialization_format == "txt" else json.loads(text)
        except ValueError:
            value = text  # not JSON: store it as a string
    d[parse_key(args.key)] = value


def cmd_rm(args: argparse.Namespace) -> None:
    d = open_url(args, args.url)
    try:
        del d[parse_key(args.key)]
    except KeyError:
        raise KeyError(f"no key {args.key!r} in {args.url}{opened_as(args, args.url)}") from None


def cmd_cp(args: argparse.Namespace) -> None:
    own = store_format(args, args.src, own=True)
    fmt = get_format(args.format or own)
    same = fmt.name == own
    # the same format moves bytes; a conversion decodes, by the one trust rule
    src = open_url(args, args.src, own if same else decoding_format(own, trusted=args.trust))
    dst = open_url(args, args.dst, fmt.name, create=True)
    keys, skipped = keys_to_copy(args, src, dst, same)
    if args.dry_run:
        for key in keys:
            print(show_key(key))
        up_to_date = f" ({skipped} up to date)" if args.skip_existing else ""
        print(f"would copy {len(keys)} keys from {args.src} to {args.dst}{up_to_date}",
              file=sys.stderr)  # fmt: skip
        return
    copy = _copy_bytes if same else _copy_values
    progress = sys.stderr.isatty() and not args.quiet
    done, started = 0, time.monotonic()
    it = iter(keys)
    while batch := list(islice(it, BATCH)):
        try:
            copy(src, dst, batch)
        except FormatError as exc:
            raise trust_hint(args, args.src, exc) from None
        done += len(batch)
        if progress:
            rate = done / max(time.monotonic() - started, 1e-9)
            print(f"\rcopied {done}/{len(keys)} keys ({rate:.0f}/s)", end="", file=sys.stderr)
    if progress:
        print(file=sys.stderr)
    if not args.quiet:
        up_to_date = f", {skipped} up to date" if args.skip_existing else ""
        print(f"copied {done} keys from {args.src} to {args.dst}{up_to_date}", file=sys.stderr)


def keys_to_copy(
    args: argparse.Namespace, src: PersiDict, dst: PersiDict, same: bool
) -> tuple[list[tuple[str, ...]], int]:
    """The keys ``cp`` copies (under --prefix), and how many --skip-existing left out.

    A key is up to date when DST holds it with the same size and the same
    ETag, or a modification time no older than SRC's (one listing of each
    side; sizes count only for a copy in the same format).
    """
    prefix = parse_key(args.prefix) if args.prefix else ()
    if not args.skip_existing:
        return [k for k in keys_under(src, args.prefix)], 0  # list() would list twice
    ours, theirs = _entries_under(src, prefix), _entries_under(dst, prefix)
    keys = [
        key
        for key, entry in ours.items()
        if key not in theirs or not _up_to_date(entry, theirs[key], same)
    ]
    return keys, len(ours) - len(keys)


def _entries_under(d: PersiDict, prefix: tuple[str, ...]) -> dict[tuple[str, ...], Entry]:
    """Key -> listing entry of every key starting with ``prefix`` (one listing)."""
    found: dict[tuple[str, ...], Entry] = {}
    try:
        entries = list(d.store.walk(d.layout.to_dir(prefix) if prefix else ""))
    except (FileNotFoundError, RootNotFoundError):
        entries = []  # nothing there yet (a new folder or bucket prefix)
    for entry in entries:
        key = d.layout.from_path(entry.path)
        if key is not None:
            found[tuple(key)] = entry
    if prefix:
        with contextlib.suppress(FileNotFoundError):  # the prefix may itself be a key
            found[prefix] = d.store.info(d.layout.path_of(prefix))
    return found


def _up_to_date(src: Entry, dst: Entry, same: bool) -> bool:
    if same and src.size != dst.size:
        return False
    same_etag = same and src.etag is not None and src.etag == dst.etag
    # S3 keeps whole seconds: a copy made in the second its source was written is not older
    src_time = math.floor(src.mtime) if float(dst.mtime).is_integer() else src.mtime
    return same_etag or dst.mtime >= src_time


def _copy_bytes(src: PersiDict, dst: PersiDict, keys: Sequence[tuple[str, ...]]) -> None:
    """Same format: the stored bytes as they are, never decoded."""
    results = src.store.read_many([src.layout.path_of(k) for k in keys])
    items = {}
    for key, data in zip(keys, results, strict=True):
        if isinstance(data, BaseException):
            raise data
        items[dst.layout.path_of(key)] = data
    for result in dst.store.write_many(items):
        if isinstance(result, BaseException):
            raise result


def _copy_values(src: PersiDict, dst: PersiDict, keys: Sequence[tuple[str, ...]]) -> None:
    dst.setitems(zip(keys, src.getitems(keys), strict=True))


def cmd_info(args: argparse.Namespace) -> None:
    d = open_url(args, args.url)
    count = size = 0
    for entry in d.store.walk():
        if d.layout.from_path(entry.path) is not None:
            count += 1
            size += entry.size
    print(f"url:    {d.store.url}")
    print(f"format: {d.serialization_format}{opened_as(args, args.url)}")
    print(f"keys:   {count}")
    print(f"bytes:  {size}")


def cmd_gc(args: argparse.Namespace) -> None:
    d = open_url(args, args.url)
    collect = getattr(d.store, "collect_garbage", None)
    if collect is None:
        print(f"{args.url}: nothing to collect (no multipart uploads)")
        return
    for url in collect(older_than=args.older_than):
        print(f"removed {url}")


def cmd_mount(args: argparse.Namespace) -> None:
    from persidict_fs.mount import quiet_libfuse

    # in the foreground libfuse writes to this terminal: its harmless lines left out
    restore_stderr = quiet_libfuse() if args.foreground else None
    try:
        _cmd_mount(args)
    finally:
        if restore_stderr:
            restore_stderr()


def _cmd_mount(args: argparse.Namespace) -> None:
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    refuse_busy_mountpoint(args)
    options = storage_options(args, args.url)
    fmt = store_format(args, args.url)
    if args.render:  # values are decoded to be shown: the one trust rule
        options["render"] = args.render
        options["serialization_format"] = decoding_format(fmt, trusted=args.trust)
    log_file = args.log
    if log_file is None and not args.foreground:  # the server outlives this terminal command
        log_file = default_log(args.mountpoint)
    handle = _mount(args, fmt, log_file, options)
    if handle is not None:
        pid, where = handle.process.pid, args.mountpoint
        shown = f"{fmt}, rendered as {args.render}" if args.render else fmt
        print(f"mounted {args.url} as {shown} at {where} (pid {pid}, log {log_file}); "
              f"unmount with: persidict umount {where}", file=sys.stderr)  # fmt: skip


def _mount(args: argparse.Namespace, fmt: str, log_file: str | None, options: dict[str, Any]):
    from persidict_fs.mount import mount

    options.setdefault("serialization_format", fmt)
    return mount(
        args.url,
        args.mountpoint,
        read_only=args.read_only,
        cache_ttl=args.cache_ttl,
        allow_other=args.allow_other,
        foreground=args.foreground,
        log_file=log_file,
        log_level=args.log_level,
        **options,
    )


def refuse_busy_mountpoint(args: argparse.Namespace) -> None:
    """A one-line UsageError, at once, for a mount point that is no empty folder.

    ``--nonempty`` mounts over a folder's files anyway (they are hidden while mounted).
    """
    where = args.mountpoint
    if not os.path.isdir(where):
        raise UsageError(f"mount point {where!r} is not a folder")
    from persidict_fs.mount import clean_dead_mount, mounted_fs

    clean_dead_mount(where)
    if mounted_fs(where) is not None:
        raise UsageError(f"{where} is already a mount point: persidict umount {where} first")
    if os.listdir(where) and not args.nonempty:
        raise UsageError(
            f"mount point {where} is not empty; its files would be hidden while mounted: "
            "add --nonempty to mount there anyway"
        )


def cmd_umount(args: argparse.Namespace) -> None:
    """Unmount a persidict mount (every write was committed when its file was closed)."""
    from persidict_fs.mount import clean_dead_mount, mounted_fs, wait_for_servers

    where = args.mountpoint
    fstype = mounted_fs(where)
    if fstype is None:
        raise UsageError(f"{where} is not a mount point")
    if fstype != "fuse.persidict":
        raise UsageError(f"{where} is a {fstype} mount, not a persidict one")
    if clean_dead_mount(where):
        return  # its server was gone: nothing to wait for
    done = subprocess.run(["fusermount3", "-u", where], capture_output=True, text=True)
    if done.returncode:
        message = done.stderr.strip().removeprefix("fusermount3: ")
        raise OSError(f"cannot unmount {where}: {message}")
    wait_for_servers(where)  # so that a mount there right after is not undone by it


def default_log(mountpoint: str) -> str:
    """The server log of a background mount: one per mount point, begun afresh each time.

    A live mount's log is left alone (mounting there again is refused anyway).
    """
    where = os.path.abspath(mountpoint)
    tag = hashlib.sha256(where.encode()).hexdigest()[:8]
    path = os.path.join(
        tempfile.gettempdir(), f"persidict-mount-{os.path.basename(where)}-{tag}.log"
    )
    if not os.path.ismount(where):
        with open(path, "w"):
            pass  # no stale line from an earlier run
    return path


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--format", "-f", choices=format_names(), help="value format")
    common.add_argument(
        "--endpoint-url",
        help="S3, GCS or Azure endpoint (or env PERSIDICT_ENDPOINT_URL); cloud URLs only",
    )
    common.add_argument(
        "-o",
        dest="option",
        action="append",
        metavar="KEY=VALUE",
        help="storage option of a remote store, e.g. -o anon=true",
    )
    parser = argparse.ArgumentParser(
        prog="persidict",
        description=__doc__.split("\n\n")[0],
        epilog=HELP_FORMS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            parents=[common],
            help=help,
            description=help,
            epilog=HELP_FORMS,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = command("ls", cmd_ls, "list the keys of a store (as a/b/c), optionally under PREFIX")
    p.add_argument("url", help=STORE)
    p.add_argument("prefix", nargs="?", help="only keys starting with these parts, e.g. Eliza")
    p = command("get", cmd_get, "print the value of KEY")
    p.add_argument("url", help=STORE)
    p.add_argument("key", help=KEY)
    add_trust(p)
    p.add_argument(
        "--as",
        dest="as_json",
        choices=["json"],
        help="print the value as JSON (arrays as lists, frames as columns and rows)",
    )
    p = command("set", cmd_set, "store VALUE (JSON if it parses, else text; stdin if omitted)")
    p.add_argument("url", help=STORE)
    p.add_argument("key", help=KEY)
    p.add_argument("value", nargs="?", help='e.g. 1965, \'["a", "b"]\' or some text')
    p = command("rm", cmd_rm, "delete KEY")
    p.add_argument("url", help=STORE)
    p.add_argument("key", help=KEY)
    p = command("cp", cmd_cp, "copy every key of SRC to DST (in --format if given), concurrently")
    p.add_argument("src", help="the store copied from, e.g. /data/store")
    p.add_argument("dst", help="the store copied to (not inside SRC), e.g. s3://bucket/backup")
    add_trust(p)
    add_copy_choices(p)
    p.add_argument("--quiet", "-q", action="store_true", help="no progress or summary")
    p.set_defaults(check=refuse_copy_into_itself)
    p = command("info", cmd_info, "count, total size and format of a store")
    p.add_argument("url", help=STORE)
    p = command("gc", cmd_gc, "abort unfinished S3 uploads (and probes) a killed writer left")
    p.add_argument("url", help=STORE)
    p.add_argument(
        "--older-than",
        type=float,
        default=24 * 3600.0,
        metavar="S",
        help="only those begun more than S seconds ago (86400: younger may be under way)",
    )
    p = command("mount", cmd_mount, "show a store as a folder of per-key files (FUSE)")
    p.add_argument("url", help=STORE)
    p.add_argument("mountpoint", help="an empty folder, e.g. /mnt/store")
    p.add_argument("--read-only", action="store_true", help="refuse every write (EROFS)")
    p.add_argument(
        "--nonempty", action="store_true", help="mount over a folder that holds files (hidden)"
    )
    p.add_argument(
        "--render",
        choices=["json"],
        help="show every value as a read-only JSON file (a pkl or npy store, to browse and grep)",
    )
    add_trust(p)
    p.add_argument("--foreground", action="store_true", help="serve until Ctrl-C or unmount")
    p.add_argument(
        "--allow-other",
        action="store_true",
        help="let every user use the mount (non-root: user_allow_other in /etc/fuse.conf)",
    )
    p.add_argument(
        "--cache-ttl", type=float, default=1.0, metavar="S", help="cache time in seconds (1)"
    )
    p.add_argument(
        "--log",
        metavar="FILE",
        help="server log (default: stderr if --foreground, else a new one in /tmp per mount point)",
    )
    p.add_argument(
        "--log-level",
        default="WARNING",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="WARNING (default): refused writes and failures only",
    )
    p = command("umount", cmd_umount, "unmount a store mounted at MOUNTPOINT")
    p.add_argument("mountpoint", help="where it is mounted, e.g. /mnt/store")
    return parser


def add_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust",
        action="store_true",
        help="decode everything, running code a stored pickle or json object names "
        "(default: plain data only; a value naming code is refused)",
    )


def add_copy_choices(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave keys DST holds with the same size and ETag, or a time no older (S3: seconds)",
    )
    p.add_argument(
        "--dry-run", "-n", action="store_true", help="list the keys that would be copied; copy none"
    )
    p.add_argument("--prefix", help="only keys starting with these parts, e.g. Eliza")


def missing_root_hint(args: argparse.Namespace) -> str:
    """How to make a missing bucket, for the commands that write."""
    if args.command in ("set", "cp", "mount"):
        return "; create it, or add -o create_bucket=true to have persidict create it"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_options(args)
        if getattr(args, "check", None):
            args.check(args)
        args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
    except BrokenPipeError:
        # the reader left (``| head``): quiet, as coreutils are when SIGPIPE ends them
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
    except UsageError as exc:
        parser.exit(2, f"persidict: error: {exc}\n")
    except KeyError as exc:
        parser.exit(1, f"persidict: error: {exc.args[0] if exc.args else exc}\n")
    except RootNotFoundError as exc:
        parser.exit(1, f"persidict: error: {exc}{missing_root_hint(args)}\n")
    except (FormatError, ValueError, TypeError, OSError, ImportError) as exc:
        parser.exit(1, f"persidict: error: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(130, "persidict: interrupted\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
