"""Built-in rule: a detection's risk is its confidence, per label.

A DETECTION event scores ``score`` (default: the detection's confidence)
when its confidence reaches the label's ``min_confidence``. Labels not
listed use ``default``; a label mapped to ``null`` is ignored. Options come
from the config under ``rules: detection_confidence:``, for example::

    rules:
      detection_confidence:
        default: {min_confidence: 0.6}
        labels:
          spill: {min_confidence: 0.5, score: 0.8}
          person: null          # people are expected on a shop floor
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from eventclip import hookimpl
from eventclip.events.types import PosEvent, RiskScore


class LabelRisk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Detections less confident than this score nothing.
    min_confidence: float = Field(0.5, ge=0, le=1)
    #: The risk given; None: the detection's confidence.
    score: float | None = Field(None, ge=0, le=1)


class DetectionRiskOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: LabelRisk | None = LabelRisk()
    labels: dict[str, LabelRisk | None] = Field(default_factory=dict)


@hookimpl
def rule_options() -> type[BaseModel]:
    return DetectionRiskOptions


@hookimpl
def score_event(event: PosEvent, options: DetectionRiskOptions) -> RiskScore | None:
    """The risk of a DETECTION from its label's settings (see the module)."""
    found = event.detection
    if event.type != "DETECTION" or found is None:
        return None
    labels = options.labels
    rule = labels[found.label] if found.label in labels else options.default
    if rule is None or found.confidence < rule.min_confidence:
        return None
    score = found.confidence if rule.score is None else rule.score
    return RiskScore(
        score,
        f"{found.label} on camera {event.camera_id} "
        f"(confidence {found.confidence:.2f}, at least {rule.min_confidence:.2f})",
    )
