"""The plugin manager: which plugins load, and how their hooks are called safely.

Built-in rules are plugins like any third party's: they are listed in
``DEFAULT_PLUGINS`` and registered under their module's short name; pip-installed
plugins come from the ``eventclip`` entry-point group and are registered under the
entry point's name. That name is what the allowlist (``settings.plugins``, env
``EVENTCLIP_PLUGINS='["refund_without_approval"]'``) and the options
(``rules: <name>:``) refer to.

Every hook implementation is called on its own (not through pluggy's combined
call) so that one that raises, hangs or returns nonsense is logged, counted and
reported, while the others still run: see ``PluginRunner``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import importlib
import importlib.metadata
import inspect
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pluggy
from opentelemetry import metrics
from pydantic import BaseModel

from eventclip import PROJECT_NAME
from eventclip.config import ConfigError
from eventclip.events import hookspecs
from eventclip.events.types import Detection, Frame, PosEvent, RiskScore, RuleContext

log = logging.getLogger(__name__)

#: Built-in plugins (module names), registered under the last dotted component.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "eventclip.plugins.refund_without_approval",
    # The exception library (docs/plugins.md, "Built-in rules").
    "eventclip.plugins.refund_without_receipt",
    "eventclip.plugins.refund_frequency",
    "eventclip.plugins.post_void",
    "eventclip.plugins.no_sale_frequency",
    "eventclip.plugins.price_override",
    "eventclip.plugins.discount",
    "eventclip.plugins.line_void_ratio",
    "eventclip.plugins.detection_confidence",
    "eventclip.plugins.hazard",
    "eventclip.plugins.onnx_detector",
)

#: Entry-point group that pip-installed plugins (``eventclip-<name>``) declare.
ENTRY_POINT_GROUP = PROJECT_NAME

#: Timed-out calls of one plugin that may still be running in threads before the
#: plugin is skipped (reported failed at once) until some of them return: a sync
#: plugin stuck forever must not use up the thread pool the others need.
MAX_ABANDONED_CALLS = 4

_meter = metrics.get_meter(__name__)
_failure_metric = _meter.create_counter(
    "eventclip.plugin.failures",
    unit="{failure}",
    description="Plugin hook calls that raised, timed out or returned an invalid value",
)


class PluginLoadError(ConfigError):
    """A plugin could not be imported or does not match the hook specifications."""


def create_plugin_manager(allowlist: Sequence[str] | None = None) -> pluggy.PluginManager:
    """A PluginManager with the hookspecs, the built-in plugins and the installed
    ones (entry-point group ``eventclip``), restricted to ``allowlist`` when given
    (None loads everything installed; [] loads nothing).

    Raises PluginLoadError (a ConfigError) when an allowlisted name is neither
    built in nor installed, or a plugin fails to import or to validate
    (``pm.check_pending()``: an implementation of a hook that does not exist).
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    allowed = None if allowlist is None else set(allowlist)
    builtin = {module.rsplit(".", 1)[-1]: module for module in DEFAULT_PLUGINS}
    installed = sorted({ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)})
    if allowed is not None:
        unknown = sorted(allowed - builtin.keys() - set(installed))
        if unknown:
            known = ", ".join(sorted({*builtin, *installed})) or "none"
            raise PluginLoadError(
                f"plugins: unknown plugin(s) {', '.join(unknown)}; known: {known}"
            )
    for name, module in builtin.items():
        if allowed is None or name in allowed:
            _load(name, functools.partial(_register_module, pm, module, name))
    for name in installed:
        if name in builtin:
            log.warning("installed plugin %r ignored: a built-in plugin has that name", name)
        elif allowed is None or name in allowed:
            # One name at a time so an error names the plugin that caused it.
            _load(name, functools.partial(pm.load_setuptools_entrypoints, ENTRY_POINT_GROUP, name))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        name = pm.get_name(err.plugin) or repr(err.plugin)
        raise PluginLoadError(f"plugin {name!r} is invalid: {err}") from err
    log.info("plugins loaded: %s", ", ".join(plugin_names(pm)) or "none")
    return pm


def _register_module(pm: pluggy.PluginManager, module: str, name: str) -> None:
    pm.register(importlib.import_module(module), name=name)


def _load(name: str, load: Callable[[], object]) -> None:
    try:
        load()
    except Exception as err:
        raise PluginLoadError(
            f"plugin {name!r} failed to load: {err!r}; fix or uninstall it, or leave it "
            f"out of the `plugins` allowlist (EVENTCLIP_PLUGINS)"
        ) from err


def _copy_of(options: BaseModel | Mapping[str, Any]) -> BaseModel | dict[str, Any]:
    if isinstance(options, BaseModel):
        return options.model_copy(deep=True)
    return dict(options)


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    """Names of the registered plugins (hookspec module excluded), sorted."""
    return sorted(name for name, plugin in pm.list_name_plugin() if plugin is not hookspecs)


@dataclass(frozen=True)
class PluginFailure:
    """A hook implementation that raised, timed out or returned an invalid value."""

    plugin: str
    error: str


@dataclass(frozen=True)
class PluginScores:
    """What ``PluginRunner.score_event`` gathered: (plugin, score) for every plugin
    that returned one, in hook call order, and the plugins that failed."""

    scores: list[tuple[str, RiskScore]]
    failures: list[PluginFailure]


@dataclass(frozen=True)
class PluginDetections:
    """What ``PluginRunner.detect`` gathered: (plugin, detection) for every
    detection returned, and the detectors that failed."""

    detections: list[tuple[str, Detection]]
    failures: list[PluginFailure]


class PluginRunner:
    """Calls each hook implementation separately with a time limit.

    A coroutine-function implementation runs on the event loop; any other runs in
    a daemon thread of its own (so a stuck plugin neither starves the database
    calls in the default executor nor blocks shutdown), and an awaitable it
    returns is awaited on the loop.
    The whole call, thread and awaitable together, gets ``timeout`` seconds.
    Failures are logged, counted per plugin (``failure_counts`` and the OTel
    counter ``eventclip.plugin.failures``) and returned, never raised.
    """

    def __init__(self, pm: pluggy.PluginManager, timeout: float) -> None:
        self.pm = pm
        self.timeout = timeout
        self.failure_counts: collections.Counter[str] = collections.Counter()
        self._abandoned: collections.Counter[str] = collections.Counter()

    async def score_event(
        self,
        event: PosEvent,
        options_for: Callable[[str], BaseModel | Mapping[str, Any]],
        context: RuleContext | None = None,
    ) -> PluginScores:
        """Every ``score_event`` implementation's RiskScore for ``event``;
        ``options_for(plugin_name)`` gives each plugin its options (a fresh copy
        per call, so one call cannot change the next one's) and ``context``
        the event history (types.RuleContext)."""
        impls = self.pm.hook.score_event.get_hookimpls()
        outcomes = await asyncio.gather(
            *(
                self._call(
                    impl,
                    event=event,
                    options=_copy_of(options_for(impl.plugin_name)),
                    context=context,
                )
                for impl in impls
            )
        )
        scores: list[tuple[str, RiskScore]] = []
        failures: list[PluginFailure] = []
        for impl, outcome in zip(impls, outcomes, strict=True):
            if isinstance(outcome, PluginFailure):
                failures.append(outcome)
            elif outcome is None:
                continue
            elif isinstance(outcome, RiskScore):
                try:
                    # Re-validate: the dataclass can be bypassed (object.__setattr__).
                    scores.append(
                        (
                            impl.plugin_name,
                            RiskScore(outcome.score, outcome.reason, outcome.related_event_ids),
                        )
                    )
                except ValueError as err:
                    failures.append(self._failed(impl.plugin_name, f"invalid RiskScore: {err}"))
            else:
                failures.append(
                    self._failed(
                        impl.plugin_name,
                        f"returned {type(outcome).__name__} {outcome!r}; "
                        "expected eventclip.events.types.RiskScore or None",
                    )
                )
        return PluginScores(scores, failures)

    async def startup(
        self, options_for: Callable[[str], BaseModel | Mapping[str, Any]]
    ) -> list[PluginFailure]:
        """Every ``startup`` implementation, each with its options, at once;
        the ones that raised or timed out."""
        impls = self.pm.hook.startup.get_hookimpls()
        outcomes = await asyncio.gather(
            *(self._call(impl, options=_copy_of(options_for(impl.plugin_name))) for impl in impls)
        )
        return [outcome for outcome in outcomes if isinstance(outcome, PluginFailure)]

    async def detect(self, frame: Frame, options: Mapping[str, Any]) -> PluginDetections:
        """Every detector in ``options`` (plugin name -> its validated options
        model) run on ``frame`` at once; their detections, re-validated, and
        their failures."""
        impls = [i for i in self.pm.hook.detect.get_hookimpls() if i.plugin_name in options]
        outcomes = await asyncio.gather(
            *(self._call(impl, frame=frame, options=options[impl.plugin_name]) for impl in impls)
        )
        found: list[tuple[str, Detection]] = []
        failures: list[PluginFailure] = []
        for impl, outcome in zip(impls, outcomes, strict=True):
            name = impl.plugin_name
            if isinstance(outcome, PluginFailure):
                failures.append(outcome)
                continue
            try:
                for item in outcome or ():
                    if not isinstance(item, Detection):
                        raise ValueError(
                            f"returned {type(item).__name__} {item!r}; expected "
                            "eventclip.events.types.Detection"
                        )
                    # Re-validate: the dataclass can be bypassed (object.__setattr__).
                    found.append(
                        (
                            name,
                            Detection(
                                item.label, item.confidence, item.box, item.onset, item.attributes
                            ),
                        )
                    )
            except (TypeError, ValueError) as err:
                failures.append(self._failed(name, f"invalid detections: {err}"))
        return PluginDetections(found, failures)

    async def _call(self, impl: pluggy.HookImpl, **kwargs: Any) -> Any:
        """The implementation's return value, or a PluginFailure."""
        name = impl.plugin_name
        if self._abandoned[name] >= MAX_ABANDONED_CALLS:
            return self._failed(name, f"skipped: {self._abandoned[name]} earlier calls still hung")
        args = {arg: kwargs[arg] for arg in impl.argnames}
        deadline = time.monotonic() + self.timeout
        try:
            if inspect.iscoroutinefunction(impl.function):
                result: Any = impl.function(**args)
            else:
                result = await self._in_thread(name, impl.function, args, deadline)
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, max(0.0, deadline - time.monotonic()))
            return result
        except TimeoutError:
            return self._failed(name, f"timed out after {self.timeout:g} s")
        except Exception as err:
            log.exception("plugin %r raised in %s", name, impl.function.__qualname__)
            return self._failed(name, f"raised {err!r}", logged=True)

    async def _in_thread(
        self, name: str, function: Callable[..., Any], args: dict[str, Any], deadline: float
    ) -> Any:
        # A daemon thread per call rather than a pool: a pool's threads are joined
        # at interpreter exit, so one plugin stuck forever would keep the service
        # from shutting down. Starting a thread costs tens of microseconds.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        context = contextvars.copy_context()  # keeps the current trace span in the thread

        def run() -> None:
            try:
                outcome: tuple[Any, BaseException | None] = (context.run(function, **args), None)
            except BaseException as err:  # SystemExit from a plugin must not stop us
                wrapped = err if isinstance(err, Exception) else RuntimeError(repr(err))
                outcome = (None, wrapped)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, future, *outcome)

        threading.Thread(target=run, name=f"eventclip-plugin-{name}", daemon=True).start()
        try:
            # shield: on timeout the thread cannot be stopped; count it until it returns.
            return await asyncio.wait_for(asyncio.shield(future), deadline - time.monotonic())
        except TimeoutError:
            self._abandoned[name] += 1
            future.add_done_callback(functools.partial(self._returned, name))
            raise

    def _returned(self, name: str, future: asyncio.Future[Any]) -> None:
        self._abandoned[name] -= 1
        if not future.cancelled() and future.exception() is not None:
            log.warning("plugin %r raised after its timeout: %r", name, future.exception())

    def _failed(self, name: str, error: str, *, logged: bool = False) -> PluginFailure:
        if not logged:
            log.warning("plugin %r failed: %s", name, error)
        self.failure_counts[name] += 1
        _failure_metric.add(1, {"plugin": name})
        return PluginFailure(name, error)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
