"""API keys are checked for shape before any use: trimmed, printable ASCII, a plausible length."""

from __future__ import annotations

import pytest

from luma_playground import ApiKey, InvalidRequest, Settings
from luma_playground._config import check_key_shape

GOOD = "sk-0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("sk-abc\ndef-123456", "a space or a line break"),
        ("sk-abc def-123456", "a space or a line break"),
        ("sk-abc\tdef-123456", "a space or a line break"),
        ("sk-ключ-12345678", "not plain letters"),
        ("sk-café-12345678", "not plain letters"),
        ("sk-\u200b12345678", "not plain letters"),
        ("sk-abc\x00def-1234", "control character"),
        ("sk-abc\x7fdef-1234", "control character"),
        ("sk-1", "only 4 characters long"),
        ("k" * 300, "300 characters long"),
    ],
)
def test_keys_of_the_wrong_shape_are_refused(value: str, words: str) -> None:
    """Each malformed key gets one sentence that says what is wrong, never the key itself."""
    with pytest.raises(InvalidRequest, match=words) as caught:
        ApiKey.parse(value)
    message = str(caught.value)
    assert message.startswith("That API key is not valid: ") and message.endswith(
        "Paste the key exactly as wavespeed.ai shows it."
    )
    assert value not in message and caught.value.field == "api_key"


def test_a_good_key_is_trimmed_and_kept() -> None:
    """Surrounding spaces and line breaks (a paste) are trimmed; the key itself is unchanged."""
    assert ApiKey.parse(f"  {GOOD}\n").reveal() == GOOD  # type: ignore[union-attr]
    assert check_key_shape(GOOD) == GOOD
    assert ApiKey.parse("   ") is None


def test_a_bad_key_in_the_environment_is_one_sentence() -> None:
    """WAVESPEED_API_KEY of the wrong shape stops the settings with the same sentence."""
    with pytest.raises(InvalidRequest, match="That API key is not valid: it contains a space"):
        Settings.from_env({"WAVESPEED_API_KEY": "sk-one two-three"})
