"""Plugin options declared as pydantic models and checked at start-up, for
rules (``rules: <plugin>: {...}``) and detectors (``cameras[].detectors``):
a typo or a wrong type stops the service with the key named, instead of
reaching a plugin as a string at the first event."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy
from pydantic import BaseModel, ValidationError

from eventclip.config import ConfigError


def declared_models(hook: Any, hook_name: str) -> dict[str, type[BaseModel]]:
    """{plugin name: options model} of every implementation of ``hook`` (an
    options hook such as ``pm.hook.rule_options``). Raises ConfigError when
    one returns something else than a pydantic model class."""
    models: dict[str, type[BaseModel]] = {}
    for impl in hook.get_hookimpls():
        model = impl.function()
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ConfigError(
                f"plugin {impl.plugin_name!r}: {hook_name}() must return a pydantic "
                f"model class, not {model!r}"
            )
        models[impl.plugin_name] = model
    return models


def validated(model: type[BaseModel], raw: Mapping[str, Any] | None, where: str) -> BaseModel:
    """``raw`` (the config's mapping, None: empty) as ``model``. Raises
    ConfigError listing every refused key as ``<where>.<key>: <why>``."""
    try:
        return model.model_validate(dict(raw or {}))
    except ValidationError as err:
        problems = "; ".join(
            f"{where}.{'.'.join(str(p) for p in e['loc']) or '(options)'}: {e['msg']}"
            for e in err.errors()
        )
        raise ConfigError(f"invalid plugin options: {problems}") from None


def rule_options(
    pm: pluggy.PluginManager, configured: Mapping[str, Mapping[str, Any] | None]
) -> dict[str, BaseModel | dict[str, Any]]:
    """Each rule plugin's options: {plugin name: validated model}, or the
    configured dict as it is for a plugin that declares no ``rule_options``
    model. Raises ConfigError naming the key: a name under ``rules:`` that is
    no loaded rule plugin (a typo, or one left out of ``plugins``), or options
    the plugin's model refuses."""
    rules = {i.plugin_name for i in pm.hook.score_event.get_hookimpls()}
    unknown = sorted(set(configured) - rules)
    if unknown:
        known = ", ".join(sorted(rules)) or "none loaded"
        raise ConfigError(
            f"rules.{unknown[0]}: no rule plugin of that name is loaded; loaded rules: {known}"
        )
    models = declared_models(pm.hook.rule_options, "rule_options")
    chosen: dict[str, BaseModel | dict[str, Any]] = {}
    for name in sorted(rules):
        raw = configured.get(name)
        model = models.get(name)
        chosen[name] = validated(model, raw, f"rules.{name}") if model else dict(raw or {})
    return chosen
