"""Pieces of the simulator that need no server: public names, signing, timing, motion, faults."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import statistics

import pytest

import luma_playground.simulator as simulator_package
from luma_playground.simulator import SimulatorConfig, key_fingerprint, sign_webhook
from luma_playground.simulator._optimizer import optimize_prompt
from luma_playground.simulator._render import MAX_ZOOM, Motion, camera_box, motion_from_prompt
from luma_playground.simulator._timing import TimingModel
from luma_playground.simulator.harness.faults import FaultBook, InvalidFault


def test_public_names() -> None:
    """The package exports exactly its documented names, sorted."""
    assert simulator_package.__all__ == [
        "Behaviour",
        "SimulatorConfig",
        "SimulatorControl",
        "SimulatorServer",
        "create_app",
        "key_fingerprint",
        "serve",
        "sign_webhook",
    ]


def test_key_fingerprint_is_a_sha256_prefix() -> None:
    """A key is identified by the first 16 hex digits of its SHA-256."""
    assert key_fingerprint("sk-abc") == hashlib.sha256(b"sk-abc").hexdigest()[:16]


def test_config_is_frozen_with_a_readable_repr() -> None:
    """The configuration cannot change after creation and shows its fields."""
    config = SimulatorConfig(time_scale=0.5, seed=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.seed = 4  # type: ignore[misc]
    assert "time_scale=0.5" in repr(config) and "seed=3" in repr(config)


def test_config_refuses_a_negative_time_scale() -> None:
    """A negative time scale is an error, not a time machine."""
    with pytest.raises(ValueError, match="time_scale"):
        SimulatorConfig(time_scale=-1)


def test_sign_webhook_follows_the_documented_scheme() -> None:
    """The signature is v3 and the hex HMAC-SHA256 of "id.timestamp.body" keyed by the bare secret."""
    body = b'{"id":"abc"}'
    expected = hmac.new(b"s3cret", b"msg_1.1700000000." + body, hashlib.sha256).hexdigest()
    assert sign_webhook("whsec_s3cret", "msg_1", 1700000000, body) == f"v3,{expected}"
    assert sign_webhook("s3cret", "msg_1", "1700000000", body) == f"v3,{expected}"


def test_timing_model_is_seeded_and_realistic() -> None:
    """The same seed gives the same plans; medians sit near 3 s queue, 45 s and 85 s inference."""
    first, second = TimingModel(seed=1), TimingModel(seed=1)
    assert [first.plan_video(5) for _ in range(5)] == [second.plan_video(5) for _ in range(5)]
    model = TimingModel(seed=2)
    five = [model.plan_video(5) for _ in range(400)]
    ten = [model.plan_video(10) for _ in range(400)]
    assert 2.5 < statistics.median(p.queue_s for p in five) < 3.5
    assert 43 < statistics.median(p.inference_s for p in five) < 47
    assert 81 < statistics.median(p.inference_s for p in ten) < 89


def test_time_scale_multiplies_waits() -> None:
    """Every simulated wait is multiplied by the time scale."""
    assert TimingModel(time_scale=0.01).scaled(45.0) == pytest.approx(0.45)


def test_reported_inference_time_is_the_scaled_one() -> None:
    """`timings.inference` is the time the run really took: planned seconds times the scale."""
    model = TimingModel(seed=4, time_scale=0.01)
    plan = model.plan_video(5)
    assert model.inference_ms(plan) == round(plan.inference_s * 10)
    assert TimingModel(time_scale=1.0).inference_ms(plan) == round(plan.inference_s * 1000)


@pytest.mark.parametrize(
    ("prompt", "motion"),
    [
        ("a harbour at dawn", Motion.ZOOM_IN),
        ("Slowly ZOOM OUT from the castle", Motion.ZOOM_OUT),
        ("the camera pans left across the hills", Motion.PAN_LEFT),
        ("pan right, then zoom in", Motion.PAN_RIGHT),
        ("tilt up to the sky", Motion.TILT_UP),
        ("pan up along the tower", Motion.TILT_UP),
        ("tilting down to the river", Motion.TILT_DOWN),
    ],
)
def test_motion_follows_the_first_prompt_hint(prompt: str, motion: Motion) -> None:
    """The camera move is the first one the prompt names, else a gentle zoom in."""
    assert motion_from_prompt(prompt) is motion


def test_camera_box_eases_in_and_out() -> None:
    """A zoom in starts on the whole picture, ends 1:1, and moves slowest at both ends."""
    base, frame = (1536, 864), (1280, 720)
    start = camera_box(Motion.ZOOM_IN, 0.0, base, frame)
    end = camera_box(Motion.ZOOM_IN, 1.0, base, frame)
    assert start == pytest.approx((0, 0, 1536, 864))
    assert end[2] - end[0] == pytest.approx(base[0] / MAX_ZOOM)
    boxes = [camera_box(Motion.ZOOM_IN, t / 10, base, frame) for t in range(11)]
    widths = [box[2] - box[0] for box in boxes]
    steps = [a - b for a, b in itertools.pairwise(widths)]
    assert steps[0] < steps[5] and steps[-1] < steps[5]


def test_pan_left_moves_the_window_from_right_to_left() -> None:
    """Panning left shows the left of the picture last."""
    base, frame = (1536, 864), (1280, 720)
    assert camera_box(Motion.PAN_LEFT, 0.0, base, frame)[0] == pytest.approx(256)
    assert camera_box(Motion.PAN_LEFT, 1.0, base, frame)[0] == pytest.approx(0)


def test_optimizer_rewrite_is_deterministic_and_styled() -> None:
    """The same text, mode and style always give the same prompt; video mode adds camera motion."""
    video = optimize_prompt("a fox in snow", mode="video", style="photographic")
    assert video == optimize_prompt("a fox in snow", mode="video", style="photographic")
    assert video.startswith("A fox in snow") and "35mm" in video and "tracking shot" in video
    assert "tracking shot" not in optimize_prompt("a fox in snow", mode="image", style="photographic")


def test_fault_rules_skip_then_count() -> None:
    """A rule lets `skip` matching requests pass, then affects `count` of them."""
    book = FaultBook()
    book.add({"route": "result", "kind": "status", "status": 503, "skip": 1, "count": 2})
    taken = [book.take("result", None, frozenset({"status"})) is not None for _ in range(5)]
    assert taken == [False, True, True, False, False]


def test_fault_rules_are_validated() -> None:
    """Unknown kinds, misplaced kinds and unknown options are refused."""
    book = FaultBook()
    for bad in (
        {"route": "submit", "kind": "explode"},
        {"route": "result", "kind": "truncated"},
        {"route": "result", "kind": "nsfw"},
        {"route": "nowhere", "kind": "status"},
        {"route": "submit", "kind": "status", "colour": "red"},
    ):
        with pytest.raises(InvalidFault):
            book.add(bad)
