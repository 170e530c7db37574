"""The key stays hidden; settings come from the environment in one place."""

from __future__ import annotations

import pickle

import pytest

from luma_playground import ApiKey, Settings
from luma_playground._config import DEFAULT_BASE_URL


def test_key_does_not_show_itself() -> None:
    """Neither repr, str, f-strings nor pickling reveal the key."""
    key = ApiKey("sk-very-secret-123")
    for text in (repr(key), str(key), f"{key}", repr(Settings(api_key=key))):
        assert "sk-very-secret-123" not in text
    with pytest.raises(TypeError):
        pickle.dumps(key)
    assert key.reveal() == "sk-very-secret-123"


def test_blank_key_is_no_key() -> None:
    """An empty or blank key field means no key."""
    assert ApiKey.parse("  ") is None and ApiKey.parse(None) is None


def test_settings_from_env(tmp_path) -> None:
    """Base URL, key, public URL and limits are read from the environment."""
    settings = Settings.from_env(
        {
            "WAVESPEED_BASE_URL": "http://127.0.0.1:9/",
            "WAVESPEED_API_KEY": "sk-from-env-1",
            "SPACE_HOST": "me-luma.hf.space",
            "LUMA_PLAYGROUND_HOME": str(tmp_path),
            "LUMA_PLAYGROUND_SESSION_DAILY": "7",
            "LUMA_PLAYGROUND_SESSION_SUGGESTIONS": "9",
            "LUMA_PLAYGROUND_AUTH": "ann:pw",
        }
    )
    assert settings.base_url == "http://127.0.0.1:9"
    assert settings.api_key == ApiKey("sk-from-env-1")
    assert settings.public_url == "https://me-luma.hf.space"
    assert settings.journal_path == tmp_path / "journal.sqlite3"
    assert settings.session_daily_limit == 7 and settings.auth == ("ann", "pw")
    assert settings.session_daily_suggestions == 9
    assert Settings.from_env({}).base_url == DEFAULT_BASE_URL


@pytest.mark.parametrize(
    ("server_name", "shared"),
    [
        (None, False),
        ("127.0.0.1", False),
        ("localhost", False),
        ("::1", False),
        ("0.0.0.0", True),
        ("192.168.1.20", True),
        ("myhost.lan", True),
    ],
)
def test_listening_beyond_loopback_is_shared(server_name: str | None, shared: bool) -> None:
    """A server others on the network can reach counts as a shared deployment."""
    env = {"GRADIO_SERVER_NAME": server_name} if server_name else {}
    assert Settings.from_env(env).shared is shared
