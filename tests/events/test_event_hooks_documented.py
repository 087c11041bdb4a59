"""Every hook has a section in docs/plugins.md and a test (as Datasette checks),
and the examples in those sections really work."""

from __future__ import annotations

import re
import sys
import types
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from eventclip import PROJECT_NAME
from eventclip.config import CameraConfig, ConfigError, load_settings
from eventclip.events import hookspecs
from eventclip.events.detectors import detector_options
from eventclip.events.plugin_options import rule_options
from eventclip.events.plugins import PluginLoadError, PluginRunner, create_plugin_manager
from eventclip.events.service import start
from eventclip.events.types import Frame, PosEvent, RiskScore

REPO = Path(__file__).resolve().parents[2]
DOCS = (REPO / "docs" / "plugins.md").read_text()
HOOKS = sorted(
    name
    for name, value in vars(hookspecs).items()
    if callable(value) and hasattr(value, f"{PROJECT_NAME}_spec")
)


def hook_section(name: str) -> str:
    """The text of the `### name(...)` section of docs/plugins.md ('' if none)."""
    match = re.search(rf"^### {name}\(.*?(?=^#{{1,3}} |\Z)", DOCS, re.M | re.S)
    return match.group(0) if match else ""


def test_hookspecs_are_found() -> None:
    assert "score_event" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_an_example(hook: str) -> None:
    section = hook_section(hook)
    assert section, f"docs/plugins.md has no '### {hook}(...)' section"
    assert getattr(hookspecs, hook).__doc__.strip() in section, "one-line docstring quoted"
    assert "```python" in section, f"the {hook} section has no example"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    tests = "\n".join(p.read_text() for p in (REPO / "tests").rglob("test_*.py"))
    assert f"def test_hook_{hook}" in tests, f"no test named test_hook_{hook}* under tests/"


def no_options(plugin: str) -> dict[str, object]:
    return {}


def doc_examples(hook: str) -> list[types.ModuleType]:
    """The python examples of a hook's section, each executed as a module."""
    modules = []
    for n, code in enumerate(re.findall(r"```python\n(.*?)```", hook_section(hook), re.S)):
        module = types.ModuleType(f"docs_{hook}_{n}")
        sys.modules[module.__name__] = module  # pydantic resolves annotations through it
        exec(compile(code, f"docs/plugins.md ({hook} example {n})", "exec"), module.__dict__)
        modules.append(module)
    return modules


async def test_hook_score_event_examples_from_the_docs() -> None:
    price_override, void_rule = doc_examples("score_event")
    pm = create_plugin_manager([])
    pm.register(price_override, name="price_override")
    pm.register(void_rule, name="void_rule")
    runner = PluginRunner(pm, timeout=1.0)

    def event(kind: str, amount: str, **attributes: str) -> PosEvent:
        return PosEvent(
            "e1", kind, "s1", "till-1", datetime.now(UTC), Decimal(amount), "USD",
            attributes=attributes,
        )  # fmt: skip

    cut = await runner.score_event(event("PRICE_OVERRIDE", "40", list_price="100"), no_options)
    small_cut = await runner.score_event(
        event("PRICE_OVERRIDE", "60", list_price="100"), no_options
    )
    void = await runner.score_event(event("VOID", "5"), no_options)
    assert cut.scores == [
        (
            "price_override",
            RiskScore(0.4, "price overridden to USD 40.00, 60% under the list price"),
        )
    ]
    assert small_cut.scores == []
    assert void.scores == [("void_rule", RiskScore(0.2, "void without approval"))]
    assert cut.failures == small_cut.failures == void.failures == []


def frame_of(mean: int, at: datetime) -> Frame:
    image = np.full((36, 64, 3), mean, np.uint8)
    image.flags.writeable = False
    return Frame("aisle-3", at, image, 1920, 1080)


async def test_hook_detect_examples_from_the_docs() -> None:
    (blocked,) = doc_examples("detect")
    pm = create_plugin_manager([])
    pm.register(blocked, name="camera_blocked")
    runner = PluginRunner(pm, timeout=1.0)
    options = blocked.CameraBlockedOptions(max_mean=20, min_seconds=10)
    t0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    lit = await runner.detect(frame_of(120, t0), {"camera_blocked": options})
    dark_early = await runner.detect(frame_of(5, t0), {"camera_blocked": options})
    dark_later = await runner.detect(
        frame_of(5, t0 + timedelta(seconds=11)), {"camera_blocked": options}
    )
    assert lit.detections == dark_early.detections == []
    ((plugin, found),) = dark_later.detections
    assert plugin == "camera_blocked" and found.label == "camera_blocked"
    assert found.onset == t0 and found.box == (0.0, 0.0, 1.0, 1.0)
    assert found.confidence == pytest.approx(0.75)
    assert lit.failures == dark_later.failures == []


def test_hook_detector_options_examples_from_the_docs() -> None:
    (no_options_plugin,) = doc_examples("detector_options")
    (blocked,) = doc_examples("detect")
    pm = create_plugin_manager([])
    pm.register(no_options_plugin, name="plain")
    pm.register(blocked, name="camera_blocked")
    # Only detectors implement detect; "plain" declares options but detects nothing.
    camera = CameraConfig(
        id="aisle-3",
        source="synthetic://",
        detectors={"camera_blocked": {"max_mean": 30}},
    )
    chosen = detector_options(pm, [camera])
    assert chosen["aisle-3"]["camera_blocked"] == blocked.CameraBlockedOptions(max_mean=30)
    bad = camera.model_copy(update={"detectors": {"camera_blocked": {"max_mean": 300}}})
    with pytest.raises(ConfigError, match=r"detectors\.camera_blocked\.max_mean"):
        detector_options(pm, [bad])
    assert no_options_plugin.detector_options().model_fields == {}


def test_hook_rule_options_example_is_validated_at_start_up() -> None:
    (large_sale,) = doc_examples("rule_options")
    pm = create_plugin_manager([])
    pm.register(large_sale, name="large_sale")
    chosen = rule_options(pm, {"large_sale": {"min_amount": "500"}})
    assert chosen["large_sale"].min_amount == Decimal(500)
    assert rule_options(pm, {})["large_sale"].min_amount == Decimal(1000)  # defaults
    with pytest.raises(ConfigError, match=r"rules\.large_sale\.min_amont: Extra inputs"):
        rule_options(pm, {"large_sale": {"min_amont": "500"}})
    with pytest.raises(ConfigError, match=r"rules\.large_sael: no rule plugin of that name"):
        rule_options(pm, {"large_sael": {}})


def test_the_third_party_rule_and_its_tests_from_the_docs_work() -> None:
    """The complete distribution's module, and the tests the docs give for it."""
    section = DOCS[DOCS.index("## Testing a plugin") : DOCS.index("## The built-in `hazard`")]
    tests_code, rule_code = re.findall(r"```python\n(.*?)```", section, re.S)
    rule = types.ModuleType("eventclip_refund_burst")
    exec(compile(rule_code, "docs/plugins.md (third-party rule)", "exec"), rule.__dict__)
    sys.modules["eventclip_refund_burst"] = rule
    try:
        doc_tests: dict[str, object] = {}
        exec(compile(tests_code, "docs/plugins.md (its tests)", "exec"), doc_tests)
        ran = [name for name in doc_tests if name.startswith("test_")]
        assert len(ran) == 2
        for name in ran:
            doc_tests[name]()  # type: ignore[operator]
    finally:
        del sys.modules["eventclip_refund_burst"]


async def test_hook_startup_example_prepares_once_and_a_failing_start_stops_the_service(
    tmp_path: Path,
) -> None:
    (blocked,) = doc_examples("startup")
    listing = tmp_path / "blocked.txt"
    listing.write_text("op-13\nop-99\n")
    pm = create_plugin_manager([])
    pm.register(blocked, name="blocked")
    runner = PluginRunner(pm, timeout=1.0)
    assert await runner.startup(lambda name: {"path": str(listing)}) == []
    event = PosEvent("e1", "SALE", "s1", "till-1", datetime.now(UTC), operator_id="op-13")
    outcome = await runner.score_event(event, lambda name: {})
    assert outcome.scores == [("blocked", RiskScore(0.9, "operator op-13 is on the blocked list"))]

    settings = load_settings(
        data_dir=tmp_path,
        plugins=[],
        services={"events": {"port": 0}},
    )
    with pytest.raises(PluginLoadError, match=r"plugins failed to start: blocked: raised"):
        pm_missing = create_plugin_manager([])
        blocked.BLOCKED.clear()
        pm_missing.register(blocked, name="blocked")
        settings.rules = {"blocked": {"path": str(tmp_path / "missing.txt")}}
        await start(settings, plugin_manager=pm_missing)
