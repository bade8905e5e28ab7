"""Shared pieces of the FUSE tests: a mounted store, and shell commands run in it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from persidict import PersiDict


@dataclass
class Mounted:
    """A store, the dict on it, and where it is mounted (with the server's log)."""

    d: PersiDict
    root: Path
    log: Path
    ttl: float

    def sh(self, script: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run ``script`` with bash inside the mount."""
        done = subprocess.run(
            ["bash", "-c", script], cwd=self.root, capture_output=True, text=True, timeout=60
        )
        if check and done.returncode:
            raise AssertionError(f"{script!r} failed ({done.returncode}): {done.stderr}")
        return done

    def log_text(self) -> str:
        return self.log.read_text()
