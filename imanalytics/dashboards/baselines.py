"""IM baselines: every SLI with its baseline band and the threshold its alert uses.

Bands are the ``..._lower_...``/``..._upper_...`` series the exported baseline rules
record (see `Scope.sli_band`), shaded between the two; thresholds come from the tuned
alert rules when they exist (see `thresholds`). Each panel repeats per instance, as a
band is drawn around one series.
"""

from __future__ import annotations

import attr
from grafanalib.core import Dashboard, Repeat

from ..catalog import LAYERS
from ..slis import slis
from .builders import dashboard
from .catalog_panels import sli_timeseries, title_of
from .layout import Section
from .queries import Scope
from .thresholds import RuleFiles


def baselines(scope: Scope, rules: RuleFiles) -> Dashboard | None:
    all_slis = slis(scope.catalog)
    if not all_slis:
        return None
    sections = [
        Section(title_of(layer), [_per_instance(sli_timeseries(scope, sli, rules, bands=True))
                                  for sli in all_slis if sli.layer == layer])
        for layer in LAYERS
    ]
    return dashboard(
        "IM baselines",
        "Each SLI against its expected band and the threshold its alert fires at: where the "
        "SLI leaves the band before it crosses the line, the alert could fire earlier.",
        sections, scope.catalog, tags=["baselines"])


def _per_instance(panel):
    """`panel` once per selected instance, each titled with its instance."""
    return attr.evolve(panel, title=f"{panel.title} on $instance",
                       repeat=Repeat(direction="h", variable="instance", maxPerRow=2))
