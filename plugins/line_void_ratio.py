"""Built-in rule: many lines voided in one transaction (a sweethearting signal:
items rung up for show and voided, the goods handed over anyway).

An event whose receipt has at least ``min_lines`` lines scores ``score``
when at least ``max_ratio`` of them are voided. Options:
``rules: line_void_ratio:``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from eventclip import hookimpl
from eventclip.events.types import PosEvent, RiskScore


class LineVoidRatioOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_lines: int = Field(4, ge=1)
    max_ratio: float = Field(0.5, gt=0, le=1)
    score: float = Field(0.4, ge=0, le=1)


@hookimpl
def rule_options() -> type[BaseModel]:
    return LineVoidRatioOptions


@hookimpl
def score_event(event: PosEvent, options: LineVoidRatioOptions) -> RiskScore | None:
    lines = event.lines
    if len(lines) < options.min_lines:
        return None
    voided = sum(1 for line in lines if line.voided)
    if voided / len(lines) < options.max_ratio:
        return None
    where = f" in transaction {event.transaction_id}" if event.transaction_id else ""
    return RiskScore(
        options.score,
        f"{voided} of {len(lines)} lines voided{where} (at least {options.max_ratio:.0%})",
    )
