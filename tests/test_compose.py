"""compose.yaml cannot be run here (no Docker engine in CI), so check what can be:
every eventclip container runs a real service, and its config + environment
pass the same validation the service does at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO

from eventclip.app import SERVICE_NAMES
from eventclip.cli import build_parser
from eventclip.config import load_settings

COMPOSE = yaml.safe_load((REPO / "compose.yaml").read_text())


def test_each_service_runs_in_its_own_container() -> None:
    commands = {
        name: spec["command"]
        for name, spec in COMPOSE["services"].items()
        if spec.get("image", "").startswith("eventclip")
    }
    assert sorted(commands) == sorted(SERVICE_NAMES)
    for name, command in commands.items():
        args = build_parser().parse_args(command)
        assert (args.command, args.name) == ("serve", name)
    assert {"postgres", "redis"} <= COMPOSE["services"].keys()


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_container_config_is_valid(
    service: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "eventclip.yaml"
    config.write_text(COMPOSE["configs"]["eventclip"]["content"])
    for key, value in COMPOSE["services"][service]["environment"].items():
        if not str(value).startswith("${"):
            monkeypatch.setenv(key, str(value))
    settings = load_settings(config)
    assert settings.effective_database_url.startswith("postgresql")
    assert settings.queue_url.startswith("redis://")
    assert settings.services.clipper.target == "clipper:50053"
    assert settings.services.buffer.bind == "0.0.0.0:50051"
    assert [c.id for c in settings.cameras] == ["demo"]
