"""The repository's promises to a new user: README commands and CI agree."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO


def _fenced_commands(text: str, marker: str) -> str:
    """The first command of the fenced block that follows the HTML comment ``marker``."""
    match = re.search(rf"<!-- {marker} -->\s*```(?:bash|sh)?\n(.+?)\n", text)
    assert match, f"README.md has no fenced command after <!-- {marker} -->"
    return match.group(1).strip()


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    command = _fenced_commands(readme, "test-command")
    ci = (REPO / ".ci" / "run").read_text()
    assert command in ci.splitlines(), f".ci/run must run the README test command: {command}"


def test_readme_has_an_install_and_run_command() -> None:
    readme = (REPO / "README.md").read_text()
    command = _fenced_commands(readme, "run-command")
    assert "pip install" in command and "eventclip run" in command


def test_readme_configuration_example_is_valid(tmp_path: Path) -> None:
    """The YAML example under "## Configuration" loads as it is written."""
    from eventclip.config import load_settings

    readme = (REPO / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert example, "README.md has no YAML example under ## Configuration"
    path = tmp_path / "eventclip.yaml"
    path.write_text(example.group(1))
    settings = load_settings(path)
    assert settings.camera("till-1") is not None
    assert settings.retention.clip_max_age_seconds == 30 * 24 * 3600
