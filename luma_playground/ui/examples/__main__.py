"""Draw the sample pictures again: `python -m luma_playground.ui.examples [FOLDER]`."""

from __future__ import annotations

import sys
from pathlib import Path

from . import FOLDER, render_examples

if __name__ == "__main__":
    for path in render_examples(Path(sys.argv[1]) if len(sys.argv) > 1 else FOLDER):
        print(f"{path} ({path.stat().st_size // 1024} KB)")
