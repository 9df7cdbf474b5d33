"""Dashboard template variables: the datasource, job, instance and tenant pickers.

Every query filters with ``job=~"$job"`` and ``instance=~"$instance"`` (and
``tenant=~"$tenant"`` where the metric has tenants), so one dashboard serves any
fleet. `substitute` expands the variables the way Grafana does before it sends a
query, for linting and for running the queries against a real Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from grafanalib.core import REFRESH_ON_TIME_RANGE_CHANGE, SORT_ALPHA_ASC, Template, Templating

from ..catalog import Catalog
from .queries import with_matchers

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
DATASOURCE_UID = "imanalytics-prometheus"  # the provisioned datasource (see `provisioning`)
# What "All" expands to; the dashboard linter asks for .+ (.* would also match absent labels).
ALL = ".+"


def templating(catalog: Catalog) -> Templating:
    """The datasource picker, then job, instance and (if any metric has tenants) tenant."""
    anchor = _anchor(catalog)
    job, instance = catalog.label("job"), catalog.label("instance")
    job_filter = f'{job}=~"$job"'
    variables = [
        Template(name="datasource", label="Data source", type="datasource",
                 query="prometheus", default=DATASOURCE_UID),
        _query("job", f"label_values({anchor}, {job})"),
        _query("instance", f"label_values({with_matchers(anchor, job_filter)}, {instance})"),
    ]
    tenant = _tenant_series(catalog)
    if tenant is not None:
        series, label = tenant
        filtered = with_matchers(series, job_filter, f'{instance}=~"$instance"')
        variables.append(_query("tenant", f"label_values({filtered}, {label})"))
    return Templating(list=variables)


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """`expr` with ``$name`` and ``${name}`` replaced by ``values[name]``; others kept."""
    if not values:
        return expr
    # Longest first, so $__range_ms is not read as $__range followed by "_ms".
    names = "|".join(re.escape(n) for n in sorted(values, key=len, reverse=True))
    pattern = re.compile(rf"\$\{{({names})\}}|\$({names})(?!\w)")
    return pattern.sub(lambda m: values[m.group(1) or m.group(2)], expr)


def _query(name: str, query: str) -> Template:
    return Template(
        name=name, label=name.title(), query=query, dataSource=DATASOURCE,
        multi=True, includeAll=True, allValue=ALL,
        # Re-read the values when the time range changes: instances come and go.
        refresh=REFRESH_ON_TIME_RANGE_CHANGE, sort=SORT_ALPHA_ASC,
    )


def _anchor(catalog: Catalog) -> str:
    """A series every instance exports: the first series of the first catalog metric."""
    spec = next(iter(catalog), None)
    if spec is None:
        raise ValueError(f"catalog {catalog.source} has no metrics to build dashboards from")
    return with_matchers(spec.series_names()[0], *catalog.selectors)


def _tenant_series(catalog: Catalog) -> tuple[str, str] | None:
    for spec in catalog:
        if "tenant" in spec.labels:
            return with_matchers(spec.series_names()[0], *catalog.selectors), spec.label("tenant")
    return None

