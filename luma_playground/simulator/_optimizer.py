"""The simulated prompt optimizer: a deterministic rewrite that adds style, camera and light."""

from __future__ import annotations

#: Per style: what the picture should look like, and how the camera should move in video mode.
STYLE_PHRASES: dict[str, tuple[str, str, str]] = {
    # style: (look, camera and motion, lighting)
    "default": (
        "rich detail and balanced composition",
        "slow, steady camera push-in with smooth natural motion",
        "soft natural lighting",
    ),
    "artistic": (
        "painterly textures and an expressive color palette",
        "graceful floating camera drift with flowing, dreamlike motion",
        "dramatic chiaroscuro lighting",
    ),
    "photographic": (
        "shot on a 35mm lens, shallow depth of field",
        "handheld-steady tracking shot with realistic motion blur",
        "golden-hour light with gentle contrast",
    ),
    "technical": (
        "precise, sharp detail and accurate proportions",
        "locked-off tripod shot with a slow, linear dolly",
        "even, neutral studio lighting",
    ),
    "anime": (
        "anime style, clean line art and vibrant cel shading",
        "dynamic anime camera pan with lively secondary motion",
        "bright, saturated key light with rim highlights",
    ),
    "realistic": (
        "photorealistic detail and true-to-life textures",
        "smooth gimbal camera move with physically plausible motion",
        "natural, motivated lighting",
    ),
}


def optimize_prompt(text: str, *, mode: str = "image", style: str = "default", image: bool = False) -> str:
    """Rewrite `text` into a fuller prompt; the same input always gives the same output."""
    look, camera, lighting = STYLE_PHRASES.get(style, STYLE_PHRASES["default"])
    subject = " ".join(text.split()).rstrip(" .,;")
    phrases = [subject[:1].upper() + subject[1:]]
    if image:
        phrases.append("faithful to the reference image")
    phrases.append(look)
    if mode == "video":
        phrases.append(camera)
    phrases.append(lighting)
    if mode == "video":
        phrases.append("temporally consistent, cinematic 24 fps")
    else:
        phrases.append("high resolution")
    return ", ".join(phrases) + "."
