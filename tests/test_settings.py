"""Settings: clear errors naming the setting, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from storage.secretbox import generate_key

REPO = Path(__file__).resolve().parent.parent


def test_defaults() -> None:
    settings = load_settings(_env_file=None)
    assert settings.database_url == "sqlite:///var/courrier.db"
    assert settings.default_language == "fr"
    assert settings.timezone == "Europe/Paris"
    assert settings.whatsapp_api_url == "https://graph.facebook.com"
    assert settings.sandbox_enabled


def test_environment_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_key()
    monkeypatch.setenv("COURRIER_SECRET_KEYS", f"{key}, {generate_key()}")
    monkeypatch.setenv("COURRIER_DEFAULT_LANGUAGE", "en")
    settings = load_settings(_env_file=None)
    assert settings.default_language == "en"
    assert len(settings.key_bytes()) == 2


@pytest.mark.parametrize(("name", "value", "needle"), [
    ("COURRIER_SECRET_KEYS", "not-base64!!", "COURRIER_SECRET_KEYS"),
    ("COURRIER_SECRET_KEYS", "c2hvcnQ=", "32 bytes"),
    ("COURRIER_TIMEZONE", "Mars/Olympus", "COURRIER_TIMEZONE"),
    ("COURRIER_DEFAULT_LANGUAGE", "de", "COURRIER_DEFAULT_LANGUAGE"),
    ("COURRIER_DATABASE_URL", "mysql://x", "COURRIER_DATABASE_URL"),
    ("COURRIER_PUBLIC_URL", "example.com", "COURRIER_PUBLIC_URL"),
])
def test_malformed_settings_name_the_setting(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                             needle: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None)
    assert needle in str(err.value)


def test_token_without_its_companions_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURRIER_WHATSAPP_TOKEN", "EAAB")
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None)
    assert "COURRIER_WHATSAPP_PHONE_NUMBER_ID" in str(err.value)
    assert "COURRIER_WHATSAPP_APP_SECRET" in str(err.value)


def _courrier(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("COURRIER_")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=60, check=False)


def test_cli_reports_bad_settings_without_traceback(tmp_path: Path) -> None:
    result = _courrier(["serve"], {"COURRIER_TIMEZONE": "Nowhere/Land"}, tmp_path)
    assert result.returncode == 2
    assert "COURRIER_TIMEZONE" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_to_start_without_keys(tmp_path: Path) -> None:
    result = _courrier(["serve"], {"COURRIER_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}, tmp_path)
    assert result.returncode == 2
    assert "COURRIER_SECRET_KEYS" in result.stderr
    assert "Traceback" not in result.stderr
