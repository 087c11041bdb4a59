from __future__ import annotations

from pathlib import Path

import pytest

from eventclip.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "eventclip.yaml"
    path.write_text(text)
    return path


def test_defaults_give_a_working_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert [(c.id, c.source) for c in settings.cameras] == [("demo", "synthetic://")]
    assert [(r.id, r.cameras) for r in settings.registers] == [("demo", ["demo"])]
    assert (settings.clips.pre_roll_seconds, settings.clips.post_roll_seconds) == (30, 30)
    assert settings.risk_threshold == 0.4
    assert settings.effective_database_url == "sqlite:///eventclip-data/eventclip.db"
    ports = [getattr(settings.services, n).port for n in ("buffer", "events", "clipper", "gateway")]
    assert ports == [50051, 50052, 50053, 8080]


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        "risk_threshold: 0.2\nservices: {buffer: {port: 6001}}\n"
        "rules: {refund_without_approval: {min_amount: '50.00'}}\n",
    )
    monkeypatch.setenv("EVENTCLIP_RISK_THRESHOLD", "0.7")
    monkeypatch.setenv("EVENTCLIP_SERVICES__GATEWAY__PORT", "9090")
    settings = load_settings(path)
    assert settings.risk_threshold == 0.7
    assert settings.services.gateway.port == 9090
    assert settings.services.buffer.port == 6001
    assert settings.rules["refund_without_approval"] == {"min_amount": "50.00"}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("cameras: [{id: a, source: 'ftp://x'}]\n", "cameras.0"),
        ("cameras: [{id: a, sourc: 'rtsp://x'}]\n", "cameras.0.sourc"),
        ("risk_threshold: 2\n", "risk_threshold"),
        ("clips: {pre_roll_seconds: -1}\n", "clips.pre_roll_seconds"),
        (
            "cameras: [{id: a, source: 'rtsp://x'}]\nregisters: [{id: r, cameras: [b]}]\n",
            "registers.0.cameras",
        ),
        ("cameras: [{id: a, source: 'rtsp://x'}, {id: a, source: 'rtsp://y'}]\n", "duplicate"),
        ("bogus_key: 1\n", "bogus_key"),
    ],
)
def test_errors_name_the_bad_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert key in str(err.value)
    assert str(path) in str(err.value)


def test_malformed_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "cameras: [unclosed\n"))
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(write(tmp_path, "- a list\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")
