"""Start reliability apps as forks of one process that has already imported the playground.

Importing Gradio costs a new process seconds of CPU (it reads and parses its own component
sources on every import); the reliability tests start about twenty apps. This process imports
`_serve_app` (and with it Gradio and the playground) once, then for every line it reads on stdin,
a JSON object {"argv", "cwd", "env", "log"}, forks a child that takes that environment, folder and
log and runs `_serve_app.main` exactly as `python _serve_app.py PORT RETRY_SCALE` would. It
answers each line with the child's pid. Children it reaps at once, so a stopped app's pid is gone.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from typing import Any

import _serve_app  # type: ignore[import-not-found]
import gradio.mcp
import gradio.oauth
import gradio.route_utils
import gradio.routes
import gradio.screen_recording_utils
import gradio_client.client

#: Gradio modules that read GRADIO_TEMP_DIR once, when imported: a child sets them to its own.
_TEMP_DIR_HOLDERS = (
    gradio.mcp,
    gradio.route_utils,
    gradio.routes,
    gradio.screen_recording_utils,
    gradio_client.client,
)


def _read_again_what_gradio_read_at_import() -> None:
    """The settings Gradio's modules took from the environment when imported, from the child's."""
    if temp_dir := os.environ.get("GRADIO_TEMP_DIR"):
        for module in _TEMP_DIR_HOLDERS:
            module.DEFAULT_TEMP_DIR = temp_dir  # type: ignore[attr-defined]
    for name in ("OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL"):
        setattr(gradio.oauth, name, os.environ.get(name))


def _reap(signum: int, frame: Any) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _child(request: dict[str, Any]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    quiet = os.open(os.devnull, os.O_RDONLY)
    os.dup2(quiet, 0)
    os.close(quiet)
    _read_again_what_gradio_read_at_import()
    sys.argv = list(request["argv"])
    _serve_app.main(int(sys.argv[1]), float(sys.argv[2]))


def main() -> None:
    signal.signal(signal.SIGCHLD, _reap)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                _child(request)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        print(pid, flush=True)


if __name__ == "__main__":
    main()
