"""Start CLI commands as forks of one process that has already imported the command line.

A fresh `python -m luma_playground` spends most of its CPU importing (half a second); the CLI
tests start over a hundred commands. This process imports `luma_playground.cli` once, then for
every line it reads on stdin, a JSON object {"argv", "cwd", "env", "stdout", "stderr", "status"},
forks a child that takes that environment and folder, writes to those files and runs
`python -m luma_playground` with those arguments as a new process would, to its interpreter's
own exit (atexit handlers and all). It answers each line with the child's pid. Children it reaps
at once, writing each one's exit status (negative: the signal that ended it) to its status file.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import luma_playground.cli  # noqa: F401  (imported once, for every child)

#: Where each running child's exit status goes, by pid.
_STATUS: dict[int, str] = {}


def _reap(signum: int, frame: Any) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        path = _STATUS.pop(pid, None)
        if path is not None:
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            part = Path(f"{path}.part")
            part.write_text(str(code))
            part.replace(path)  # a reader sees the whole status or none


def _child(request: dict[str, Any]) -> None:
    """Become the command: its folder, environment and files; then run it as `python -m` would."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    for fd, name, flags in ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT)):
        opened = os.open(name, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    opened = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT, 0o644)
    os.dup2(opened, 2)
    os.close(opened)
    sys.argv = ["-m", *request["argv"]]
    # Exits (and an uncaught exception or interrupt ends the interpreter) as a new process would.
    runpy.run_module("luma_playground", run_name="__main__", alter_sys=True)
    sys.exit(0)


def main() -> None:
    assert threading.active_count() == 1, "a fork must not copy a process with threads"
    signal.signal(signal.SIGCHLD, _reap)
    for line in sys.stdin:
        request = json.loads(line)
        # SIGCHLD waits until the pid is known, so that a quick child's status is not lost.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
        pid = os.fork()
        if pid == 0:
            _child(request)
        _STATUS[pid] = request["status"]
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD})
        print(pid, flush=True)


if __name__ == "__main__":
    main()
