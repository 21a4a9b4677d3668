"""One fleet assessment — prices → turn-off rules → warnings — for the TUI, `status` and `watch`.

The VMs pane and the CLI must never give two answers to one question ("what does this cost,
what should I turn off?"), so both feed a listing through `assess`: the spend ledger learns the
listing (runs, deletions), the ticker prices it, and the policy evaluates it. Pure apart from
the ledger it is handed; runs off the UI thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tui.services import policy, pricing
from tui.services.models import Instance


@dataclass(frozen=True)
class Assessment:
    figures: pricing.TickerFigures
    warnings: list[policy.TurnOffWarning]


def assess(
    instances: Sequence[Instance],
    now: datetime,
    rules: policy.Rules,
    *,
    ledger: pricing.RunLedger,
    cpu_samples: policy.CpuSamples | None = None,
    laptop_price: float = 1500.0,
    complete: bool = True,
    catalog: pricing.PriceCatalog | None = None,
) -> Assessment:
    """`complete`: the listing is the whole project (an instance the ledger knows and the
    listing lacks was deleted). Callers that share the ledger between threads hold its lock."""
    catalog = catalog or pricing.get_catalog()
    ledger.observe_all(instances, catalog, now, complete=complete)
    figures = pricing.ticker(instances, now, catalog, ledger=ledger, laptop_price=laptop_price)
    warnings = policy.evaluate(
        instances, cpu_samples or {}, now, rules, catalog, month_projection=figures.month_projection
    )
    return Assessment(figures, warnings)
