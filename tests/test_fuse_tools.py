"""Real tools behave in a mount as in a plain folder: one script, run in both, same transcript.

Run on local and S3 mounts of a raw (bytes) store. What a store does
not keep is left out on purpose: symlinks, hard links, modes (chmod).
Where a mount differs from a disk on purpose (two writers of one file, a
read during a write) both behaviours are spelled out and checked.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import uuid

import pytest

from persidict import open_dict
from persidict_fs import mount

NAMES = ["a b.txt", "ünï cödé.txt", "c++", "x@y:z", "100%", "semi;colon", "#hash#", "dash-"]

BATTERY = r"""
set -e
export LC_ALL=C GIT_AUTHOR_DATE='2020-01-01T00:00:00' GIT_COMMITTER_DATE='2020-01-01T00:00:00'
step() { echo "== $1"; }
step "cp -r odd names in and out"
cp -r "$SRC" tree
cp -r tree "$OUT/back"
diff -r "$SRC" "$OUT/back" && echo same
step "tar -c and -x"
tar -cf "$OUT/t.tar" -C tree .
mkdir untar && tar -xf "$OUT/t.tar" -C untar && diff -r tree untar && echo same
step "rsync -a twice"
rsync -a "$SRC/" synced/
rsync -a --stats "$SRC/" synced/ | grep "files transferred"
diff -r "$SRC" synced && echo same
step "git init, add, commit"
git init -q repo && cd repo && echo hi > a.txt && git add a.txt
git -c user.name=t -c user.email=t@t commit -qm one && git log --format=%s && git status --porcelain
cd ..
step "sed -i"
printf 'a\nb\n' > s.txt && sed -i 's/a/A/' s.txt && cat s.txt
step "append with >> and from Python"
echo one > app.txt && echo two >> app.txt && cat app.txt
python3 -c "open('py.txt', 'a').write('x'); open('py.txt', 'a').write('y')" && cat py.txt && echo
step "truncate"
printf 123456 > tr.txt && truncate -s 3 tr.txt && truncate -s 5 tr.txt && od -c tr.txt
step "dd seek"
printf abcdef > dd.bin
printf XY | dd of=dd.bin bs=1 seek=2 conv=notrunc status=none && cat dd.bin && echo
printf Z | dd of=dd.bin bs=1 seek=10 status=none && od -c dd.bin
step "mkdir, mv, rm -r"
mkdir -p empty/deeper && mkdir m1 && echo x > m1/f && mv m1 m2 && mv m2/f m2/g
ls -R empty m2 && rm -r m2 && ls
step "touch -d, find -newer, cp -p"
echo old > old.txt && touch -d '2020-01-02 03:04:05' old.txt && echo new > new.txt
find . -maxdepth 1 -newer old.txt -name '*.txt' | sort
stat -c '%n %Y' old.txt && cp -p old.txt kept.txt && stat -c '%n %Y' kept.txt
step "rm while open"
echo content > open.txt && exec 3<open.txt && rm open.txt && cat <&3 && exec 3<&-
ls open.txt 2>/dev/null || echo gone
step "vim -es: edit, and make a new file"
printf 'one\ntwo\nthree\n' > v.txt
vim -es -u NONE -i NONE -c '%s/two/TWO/' -c 'call append("$", "four")' -c 'wq' v.txt && cat v.txt
vim -es -u NONE -i NONE -c 'call setline(1, "made by vim")' -c 'wq' "vim new.txt"
cat "vim new.txt"
step "du: sizes as on a disk (apparent; folders' own sizes differ by filesystem)"
mkdir du && cp -r "$SRC/sub dir" du/ && printf 12345 > du/five
du -ab --apparent-size du | while IFS=$'\t' read -r n p; do [ -d "$p" ] || echo "$n $p"; done \
    | sort -k2
folders=$(find du -type d -printf '%s\n' | awk '{s += $1} END {print s}')
echo "du -s of the files: $(( $(du -sb --apparent-size du | cut -f1) - folders ))"
step "what is there"
find . -type f ! -path './repo/.git/*' | sort | xargs -d '\n' md5sum
find . -type d ! -path './repo/.git/*' | sort
"""


def run_battery(where, src, out) -> str:
    out.mkdir()
    done = subprocess.run(
        ["bash", "-c", BATTERY],
        cwd=where,
        env={**os.environ, "SRC": str(src), "OUT": str(out)},
        capture_output=True,
        text=True,
        errors="backslashreplace",
        timeout=300,
    )
    return done.stdout + done.stderr + f"exit {done.returncode}\n"


@pytest.fixture(params=["local", "s3"])
def store_url(request, tmp_path):
    if request.param == "local":
        return str(tmp_path / "store"), {}
    return f"s3://persidict-tests/tools-{uuid.uuid4().hex[:8]}", dict(
        request.getfixturevalue("s3_options")
    )


@contextlib.contextmanager
def bytes_mount(store_url, tmp_path):
    """The test's store, raw (bytes), mounted at ``tmp_path/mnt``: yields (mount point, log)."""
    url, options = store_url
    open_dict(url, "bytes", **options)
    mnt, log = tmp_path / "mnt", tmp_path / "log"
    mnt.mkdir()
    with mount(url, mnt, serialization_format="bytes", log_file=log, **options):
        yield mnt, log


def test_tools_in_a_mount_do_what_they_do_in_a_folder(store_url, tmp_path):
    src = tmp_path / "src"
    (src / "sub dir" / "deeper ü").mkdir(parents=True)
    for i, name in enumerate(NAMES):
        (src / name).write_text(f"file {i}\n")
        (src / "sub dir" / "deeper ü" / name).write_bytes(os.urandom(100 + i))
    for i, path in enumerate(sorted(src.rglob("*"))):
        os.utime(path, (1_600_000_000 + i, 1_600_000_000 + i))
    folder = tmp_path / "folder"
    folder.mkdir()
    expected = run_battery(folder, src, tmp_path / "out-folder")
    assert expected.endswith("exit 0\n"), expected
    assert "files transferred: 0" in expected

    with bytes_mount(store_url, tmp_path) as (mnt, log):
        got = run_battery(mnt, src, tmp_path / "out-mount")
    assert got == expected, log.read_text()[-3000:]
    shutil.rmtree(tmp_path / "out-mount")


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_an_empty_folder_made_in_the_mount_survives_a_remount(backend, request, tmp_path):
    if backend == "local":
        url, options = str(tmp_path / "store"), {}
    else:
        url = f"s3://persidict-tests/folders-{uuid.uuid4().hex[:8]}"
        options = dict(request.getfixturevalue("s3_options"))
    d = open_dict(url, "json", **options)
    d["seed"] = 0
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with mount(url, mnt, log_file=tmp_path / "log", **options):
        subprocess.run(["mkdir", "-p", "a/empty", "gone"], cwd=mnt, check=True)
        subprocess.run(["rmdir", "gone"], cwd=mnt, check=True)
    with mount(url, mnt, log_file=tmp_path / "log", **options):
        assert sorted(os.listdir(mnt)) == ["a", "seed.json"]
        assert os.listdir(mnt / "a") == ["empty"]
    assert list(d) == [("seed",)]  # folders are no keys


WRITER = r"""
import sys
path, byte, size, mode = sys.argv[1], sys.argv[2].encode(), int(sys.argv[3]), sys.argv[4]
with open(path, mode, buffering=0) as f:
    f.write(byte * (size // 2))
    print("half", flush=True)
    sys.stdin.readline()
    f.write(byte * (size - size // 2))
"""
HALF = 1 << 19


class HalfWriter:
    """A process that writes half of its file, waits to be told, then writes the rest."""

    def __init__(self, path, byte: str, mode: str = "wb") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), byte, str(2 * HALF), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout.readline() == "half\n"  # its first half is written

    def finish(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0


def runs(data: bytes) -> str:
    """``data`` as runs of one byte: b"aab" -> "a*2 b*1"."""
    return " ".join(f"{chr(m.group()[0])}*{len(m.group())}" for m in re.finditer(rb"(.)\1*", data))


def two_writers(where) -> dict[str, str]:
    """Two writers at once (each half done before either ends): what readers see."""
    seen = {}
    same = where / "same.bin"
    same.write_bytes(b"o" * 3)
    a, b = HalfWriter(same, "a"), HalfWriter(same, "b")
    seen["same file, both half done"] = runs(same.read_bytes())
    b.finish()
    seen["same file, b closed"] = runs(same.read_bytes())
    a.finish()
    seen["same file, a closed last"] = runs(same.read_bytes())

    a, b = HalfWriter(where / "one.bin", "a"), HalfWriter(where / "two.bin", "b")
    b.finish()
    a.finish()
    seen["two files"] = runs((where / "one.bin").read_bytes() + (where / "two.bin").read_bytes())

    log = where / "log.txt"
    log.write_bytes(b"o" * 3)
    a, b = HalfWriter(log, "a", "ab"), HalfWriter(log, "b", "ab")
    b.finish()
    a.finish()
    seen["two appenders"] = runs(log.read_bytes())
    return seen


H = HALF
ON_A_DISK = {
    "same file, both half done": f"b*{H}",  # b's open truncated a's half
    "same file, b closed": f"b*{2 * H}",
    "same file, a closed last": f"b*{H} a*{H}",  # a mix of the two
    "two files": f"a*{2 * H} b*{2 * H}",
    "two appenders": f"o*3 a*{H} b*{2 * H} a*{H}",  # interleaved, nothing lost
}
IN_A_MOUNT = {
    "same file, both half done": "o*3",  # readers see the last commit
    "same file, b closed": f"b*{2 * H}",
    "same file, a closed last": f"a*{2 * H}",  # one writer's whole file: the last to close
    "two files": f"a*{2 * H} b*{2 * H}",
    "two appenders": f"o*3 b*{2 * H} a*{2 * H}",  # each close appends its bytes whole
}


def test_two_writers_at_once_leave_one_whole_version(store_url, tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    assert two_writers(folder) == ON_A_DISK  # what the differences below are measured from
    with bytes_mount(store_url, tmp_path) as (mnt, log):
        assert two_writers(mnt) == IN_A_MOUNT, log.read_text()[-3000:]
