"""Every hook has a section in docs/plugins.md and a test (as Datasette checks),
and the examples in those sections really work."""

from __future__ import annotations

import re
import types
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from eventclip import PROJECT_NAME
from eventclip.events import hookspecs
from eventclip.events.plugins import PluginRunner, create_plugin_manager
from eventclip.events.types import PosEvent, RiskScore

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
