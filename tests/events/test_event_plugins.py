"""The plugin manager: loading (built-ins, entry points, allowlist) and isolation."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pluggy
import pytest

import eventclip.plugins
from eventclip import hookimpl
from eventclip.config import CameraConfig, ConfigError
from eventclip.events.detectors import detector_options
from eventclip.events.plugin_options import rule_options
from eventclip.events.plugins import (
    DEFAULT_PLUGINS,
    PluginLoadError,
    PluginRunner,
    create_plugin_manager,
    plugin_names,
)
from eventclip.events.types import Frame, RiskScore

from .harness import BUILTIN_RULES, make_event, make_settings, refund, running

(BUILTIN,) = BUILTIN_RULES


class Raises:
    @hookimpl
    def score_event(self, event, options):
        raise RuntimeError("rule bug")


class Hangs:
    def __init__(self) -> None:
        self.release = threading.Event()

    @hookimpl
    def score_event(self, event, options):
        self.release.wait(30)  # a stuck sync call: only a thread can hold it
        return RiskScore(1.0, "too late")


class HangsAsync:
    @hookimpl
    async def score_event(self, event, options):
        await asyncio.sleep(30)


class ReturnsAwaitable:
    """A sync implementation returning an awaitable (llm/Datasette style)."""

    @hookimpl
    def score_event(self, event, options):
        async def inner() -> RiskScore:
            await asyncio.sleep(0)
            return RiskScore(0.2, f"awaited {event.type} with {options.get('x')}")

        return inner()


class AsyncDef:
    @hookimpl
    async def score_event(self, event):  # may take a subset of the arguments
        return RiskScore(0.1, "async def")


class OutOfRange:
    @hookimpl
    def score_event(self, event, options):
        bad = RiskScore(0.5, "ok")
        object.__setattr__(bad, "score", 7.0)
        return bad


class WrongType:
    @hookimpl
    def score_event(self, event, options):
        return 0.9


@pytest.fixture
def pm() -> pluggy.PluginManager:
    return create_plugin_manager(BUILTIN_RULES)


@pytest.fixture
def throwaway(pm: pluggy.PluginManager) -> Iterator[dict[str, object]]:
    plugins: dict[str, object] = {
        "raises": Raises(),
        "hangs": Hangs(),
        "hangs_async": HangsAsync(),
        "awaitable": ReturnsAwaitable(),
        "async_def": AsyncDef(),
        "out_of_range": OutOfRange(),
        "wrong_type": WrongType(),
    }
    for name, plugin in plugins.items():
        pm.register(plugin, name=name)
    try:
        yield plugins
    finally:
        plugins["hangs"].release.set()  # type: ignore[attr-defined]
        for name in plugins:
            pm.unregister(name=name)


def test_builtins_are_registered_as_plugins(pm: pluggy.PluginManager) -> None:
    # Every module of eventclip.plugins that implements a hook is a built-in.
    package = Path(eventclip.plugins.__file__).parent
    with_hooks = {
        f"eventclip.plugins.{path.stem}"
        for path in package.glob("*.py")
        if "@hookimpl" in path.read_text()
    }
    assert set(DEFAULT_PLUGINS) == with_hooks
    assert BUILTIN in plugin_names(pm)
    everything = plugin_names(create_plugin_manager(None))
    assert {name.rsplit(".", 1)[1] for name in DEFAULT_PLUGINS} <= set(everything)


async def test_failing_plugins_are_isolated_and_reported(
    pm: pluggy.PluginManager, throwaway: dict[str, object]
) -> None:
    runner = PluginRunner(pm, timeout=0.3)
    options = rule_options(
        pm, {BUILTIN: {"min_amount": "100", "score": 0.5}, "awaitable": {"x": 1}}
    )
    started = asyncio.get_running_loop().time()
    outcome = await runner.score_event(make_event(), options.__getitem__)
    elapsed = asyncio.get_running_loop().time() - started
    scores = dict(outcome.scores)
    assert scores == {
        BUILTIN: RiskScore(0.5, "refund of USD 500.00 without manager approval (over 100)"),
        "awaitable": RiskScore(0.2, "awaited REFUND with 1"),
        "async_def": RiskScore(0.1, "async def"),
    }
    failed = {f.plugin: f.error for f in outcome.failures}
    assert set(failed) == {"raises", "hangs", "hangs_async", "out_of_range", "wrong_type"}
    assert "rule bug" in failed["raises"]
    assert failed["hangs"] == failed["hangs_async"] == "timed out after 0.3 s"
    assert "score must be in [0, 1]" in failed["out_of_range"]
    assert "returned float 0.9" in failed["wrong_type"]
    assert elapsed < 2, "all plugins run concurrently under one timeout"
    assert runner.failure_counts["raises"] == 1


async def test_a_plugin_stuck_in_threads_is_skipped_not_queued(
    pm: pluggy.PluginManager, throwaway: dict[str, object]
) -> None:
    runner = PluginRunner(pm, timeout=0.05)
    for _ in range(6):
        outcome = await runner.score_event(make_event(), rule_options(pm, {}).__getitem__)
    failed = {f.plugin: f.error for f in outcome.failures}
    assert failed["hangs"].startswith("skipped: 4 earlier calls still hung")
    assert runner.failure_counts["hangs"] == 6
    assert BUILTIN not in failed  # the others still score every time
    throwaway["hangs"].release.set()  # type: ignore[attr-defined]
    await asyncio.sleep(0.1)
    outcome = await runner.score_event(make_event(), rule_options(pm, {}).__getitem__)
    assert "hangs" in dict(outcome.scores)


def test_a_plugin_stuck_forever_does_not_block_shutdown(tmp_path: Path) -> None:
    script = tmp_path / "stuck.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, threading
            from datetime import UTC, datetime
            from eventclip import hookimpl
            from eventclip.events.plugins import PluginRunner, create_plugin_manager
            from eventclip.events.types import PosEvent

            class Stuck:
                @hookimpl
                def score_event(self, event):
                    threading.Event().wait()  # forever

            pm = create_plugin_manager([])
            pm.register(Stuck(), name="stuck")
            event = PosEvent("e1", "SALE", "s1", "r1", datetime.now(UTC))
            outcome = asyncio.run(PluginRunner(pm, 0.1).score_event(event, lambda name: {}))
            print(outcome.failures[0].error)
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "timed out after 0.1 s"


def test_allowlist_limits_what_loads() -> None:
    assert plugin_names(create_plugin_manager([])) == []
    assert plugin_names(create_plugin_manager([BUILTIN])) == [BUILTIN]


def test_allowlist_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from eventclip.config import load_settings

    monkeypatch.setenv("EVENTCLIP_PLUGINS", "[]")
    assert plugin_names(create_plugin_manager(load_settings().plugins)) == []


def test_unknown_allowlisted_plugin_is_a_config_error() -> None:
    with pytest.raises(PluginLoadError, match=f"unknown plugin.*nope; known: .*{BUILTIN}"):
        create_plugin_manager(["nope", BUILTIN])


def write_distribution(site: Path, name: str, module_source: str) -> None:
    """An installed distribution `eventclip-<name>` as pip leaves it: the module
    and a .dist-info with METADATA and entry_points.txt (group `eventclip`)."""
    module = f"eventclip_{name}"
    (site / f"{module}.py").write_text(textwrap.dedent(module_source))
    info = site / f"eventclip_{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: eventclip-{name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[eventclip]\n{name} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    before = set(sys.modules)
    try:
        yield site
    finally:
        for name in set(sys.modules) - before:
            if name.startswith("eventclip_"):
                del sys.modules[name]


async def test_entry_point_plugins_load_and_score(site: Path) -> None:
    write_distribution(
        site,
        "nosale",
        """
        from eventclip import hookimpl
        from eventclip.events.types import RiskScore

        @hookimpl
        def score_event(event, options):
            if event.type == "NO_SALE":
                return RiskScore(options.get("score", 0.3), "drawer opened without a sale")
        """,
    )
    pm = create_plugin_manager(["nosale", BUILTIN])
    assert plugin_names(pm) == ["nosale", BUILTIN]
    assert [dist.metadata["Name"] for _, dist in pm.list_plugin_distinfo()] == ["eventclip-nosale"]
    runner = PluginRunner(pm, timeout=1)
    outcome = await runner.score_event(
        make_event(type="NO_SALE", amount=None, currency=None),
        lambda name: {"score": 0.35} if name == "nosale" else {},
    )
    assert outcome.scores == [("nosale", RiskScore(0.35, "drawer opened without a sale"))]
    # The allowlist keeps installed plugins out too.
    assert plugin_names(create_plugin_manager([BUILTIN])) == [BUILTIN]


async def test_entry_point_detector_loads_with_its_options_and_detects(site: Path) -> None:
    """A third party's detector, pip-installed: found by its entry point, its
    options validated per camera by its model, and run on a frame."""
    write_distribution(
        site,
        "blocked",
        """
        import numpy as np
        from pydantic import BaseModel

        from eventclip import hookimpl
        from eventclip.events.types import Detection

        class Options(BaseModel):
            max_mean: float = 20.0

        @hookimpl
        def detector_options():
            return Options

        @hookimpl
        def detect(frame, options):
            if float(np.mean(frame.image)) <= options.max_mean:
                return [Detection("camera_blocked", 0.9, (0, 0, 1, 1))]
            return []
        """,
    )
    pm = create_plugin_manager(["blocked"])
    camera = CameraConfig(id="c1", source="synthetic://", detectors={"blocked": {"max_mean": 30}})
    options = detector_options(pm, [camera])["c1"]
    assert options["blocked"].max_mean == 30
    with pytest.raises(ConfigError, match=r"detectors\.blocked\.max_mean"):
        detector_options(
            pm, [camera.model_copy(update={"detectors": {"blocked": {"max_mean": "x"}}})]
        )
    dark = np.zeros((36, 64, 3), np.uint8)
    dark.flags.writeable = False
    frame = Frame("c1", datetime.now(UTC), dark, 640, 360)
    found = await PluginRunner(pm, timeout=1).detect(frame, options)
    assert [(plugin, d.label) for plugin, d in found.detections] == [("blocked", "camera_blocked")]
    assert found.failures == []


def test_plugin_that_fails_to_import_names_itself(site: Path) -> None:
    write_distribution(site, "broken", "raise ImportError('missing dependency foo')\n")
    with pytest.raises(PluginLoadError, match=r"'broken' failed to load.*missing dependency foo"):
        create_plugin_manager(["broken", BUILTIN])
    assert plugin_names(create_plugin_manager([BUILTIN])) == [BUILTIN]


def test_implementation_of_an_unknown_hook_fails_check_pending(site: Path) -> None:
    write_distribution(
        site,
        "typo",
        """
        from eventclip import hookimpl

        @hookimpl
        def score_evnt(event, options):
            return None
        """,
    )
    with pytest.raises(PluginLoadError, match=r"plugin 'typo' is invalid.*score_evnt"):
        create_plugin_manager(["typo"])


async def test_the_test_services_load_only_their_allowlist(site: Path, tmp_path: Path) -> None:
    # Something installed in the environment that would break (or score) if loaded.
    write_distribution(site, "broken", "raise ImportError('missing dependency foo')\n")
    async with running(make_settings(tmp_path)) as events:
        response = await events.submit(refund())
    assert [r.rule for r in response.assessment.results] == [BUILTIN]
