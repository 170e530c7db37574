"""Local video work with PyAV and Pillow (no system ffmpeg): the last frame of a clip as the picture of
the next, shots joined from their clips, seamless loops, trims, GIF and WebP exports, and the settings
kept inside each MP4.

How a shot is joined: every frame is decoded and encoded again (x264 `superfast`, CRF 23, threads on
every core), not copied. A continuation's first frame repeats the previous clip's last frame and must
go, but it is the clip's only keyframe before the rest depend on it: Ray 2 and the simulator write one
keyframe for a whole 5 or 10 s clip (the simulator: x264's default GOP of 250 frames), so "re-encode
only the GOP around each join" re-encodes every clip after the first anyway, and a stream copy cannot
drop it. Clips from different encodes also carry different H.264 parameter sets, which one MP4 track
cannot switch between for every player. Measured on the 2-core development machine, a 6 x 10 s
1280x720 shot (1435 frames) took 6.6 s with `ultrafast` (15 MB), 7.7 s with `superfast` (4.3 MB),
11.7 s with `veryfast` (2.1 MB) and 51 s with x264's default `medium`, while other work ran:
`superfast` keeps the file small and the time well under a quarter of the shot's length
(benchmarks/media.py: 0.18 of the play time with the machine's load at 2.8 per core).
"""

from __future__ import annotations

from ._export import planned_pixels, to_gif, to_webp, trim
from ._join import join_segments, last_frame
from ._loop import LoopMode, make_loop
from ._metadata import read_metadata, write_metadata

__all__ = [
    "LoopMode",
    "join_segments",
    "last_frame",
    "make_loop",
    "planned_pixels",
    "read_metadata",
    "to_gif",
    "to_webp",
    "trim",
    "write_metadata",
]
