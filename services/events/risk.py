"""Combining rule scores into one risk, and the alert decision.

Risk is the noisy-OR of the rule scores, ``1 - prod(1 - s_i)``: each score is read
as the probability that its rule alone has caught a problem, and the rules as
independent signals, so the risk is the probability that at least one of them is
right: the noisy-OR model (Pearl, "Probabilistic Reasoning in Intelligent Systems", 1988).
It never exceeds 1, grows with every rule that fires, ignores rules that score 0,
and a single rule's score passes through unchanged (one 0.5 rule gives 0.5).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

#: Decimal places kept in the combined risk: floats make 1 - (0.8 * 0.75)
#: 0.3999999999999999, which would miss a 0.4 threshold that 0.2 and 0.25 meet.
RISK_DECIMALS = 12


def combine(scores: Iterable[float]) -> float:
    """Noisy-OR of scores in [0, 1]: 1 - prod(1 - s). 0.0 for no scores."""
    return round(1.0 - math.prod(1.0 - s for s in scores), RISK_DECIMALS)


def raises_alert(risk: float, threshold: float) -> bool:
    """True when ``risk`` is at or over ``threshold`` (settings.risk_threshold)."""
    return risk >= threshold
