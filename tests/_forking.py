"""The test side of a forking script: one per test process, sent a JSON request a line, answering
each with the pid of the child it forked (`reliability/_forker.py` for apps, `cli/_forker.py`
for commands).
"""

from __future__ import annotations

import atexit
import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest


class ForkServer:
    """A forking script started with the environment every child shares."""

    def __init__(self, script: Path, *, cwd: Path, env: dict[str, str]) -> None:
        self._lock = threading.Lock()
        self._process = subprocess.Popen(
            [sys.executable, str(script)],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        atexit.register(self.close)

    def fork(self, request: dict[str, Any]) -> int:
        """Ask for a child; its pid."""
        assert self._process.stdin is not None and self._process.stdout is not None
        with self._lock:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline()
        if not answer.strip():
            pytest.fail(f"{Path(self._process.args[1]).parent.name}'s forker has stopped")
        return int(answer)

    def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
