#!/usr/bin/env python3
"""Checks the operations kit under `deploy/` and `docker-compose.yml` against the code.

- `promtool check rules`, `promtool test rules` (each alert fires on the series that
  should raise it and stays silent on healthy ones) and `promtool check config`;
- every `sluice_*` metric an alert or a dashboard panel queries is one the code
  exports (a metric renamed in Rust must not leave a dashboard silently empty);
- the dashboard is valid JSON whose panels all have queries;
- `docker-compose.yml` runs Redis with what a 202 relies on (append-only file,
  `noeviction`) and sets only environment variables the README documents.

Run from anywhere: `python3 scripts/check-deploy.py` (needs `promtool`, from the
Debian `prometheus` package; `scripts/test.sh` installs it).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
METRIC = re.compile(r"\bsluice_[a-z_]+\b")
# Prometheus adds these suffixes to a histogram or summary's series.
SERIES_SUFFIXES = ("_bucket", "_count", "_sum")


def exported_metrics() -> set[str]:
    """Every `"sluice_…"` string literal in the Rust sources (metric names)."""
    names: set[str] = set()
    for path in (ROOT / "crates").rglob("*.rs"):
        names.update(re.findall(r'"(sluice_[a-z_]+)"', path.read_text()))
    return names


def base_name(series: str) -> str:
    for suffix in SERIES_SUFFIXES:
        if series.endswith(suffix):
            return series[: -len(suffix)]
    return series


def queried_metrics() -> dict[str, set[str]]:
    """Metric names each alert or panel queries, keyed by where they were found."""
    found: dict[str, set[str]] = {}
    alerts = yaml.safe_load((DEPLOY / "prometheus/sluice-alerts.yml").read_text())
    for group in alerts["groups"]:
        for rule in group["rules"]:
            found[f"alert {rule['alert']}"] = set(METRIC.findall(rule["expr"]))
    dashboard = json.loads((DEPLOY / "grafana/sluice-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        exprs = [t["expr"] for t in panel.get("targets", [])]
        if not exprs:
            fail(f"dashboard panel {panel['title']!r} has no query")
        found[f"panel {panel['title']!r}"] = {
            m for e in exprs for m in METRIC.findall(e)
        }
    return found


def check_compose() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis = " ".join(compose["services"]["redis"]["command"])
    for needed in ("--appendonly yes", "--maxmemory-policy noeviction"):
        if needed not in redis:
            fail(f"docker-compose.yml: redis must run with {needed}")
    readme = (ROOT / "README.md").read_text()
    for name in compose["services"]["sluice"]["environment"]:
        if f"`{name}`" not in readme and f"({name})" not in readme and f"({name}," not in readme:
            fail(f"docker-compose.yml sets {name}, which the README does not document")


def promtool(*args: str) -> None:
    result = subprocess.run(
        ["promtool", *args], cwd=DEPLOY / "prometheus", capture_output=True, text=True
    )
    if result.returncode != 0:
        fail(f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}")


def fail(message: str) -> None:
    print(f"check-deploy: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> None:
    promtool("check", "rules", "sluice-alerts.yml")
    promtool("test", "rules", "sluice-alerts.test.yml")
    promtool("check", "config", "prometheus.yml")
    exported = exported_metrics()
    for where, names in queried_metrics().items():
        if not names:
            fail(f"{where} queries no sluice_ metric")
        for name in names:
            if base_name(name) not in exported:
                fail(f"{where} queries {name}, which no crate exports")
    check_compose()
    print("check-deploy: alert rules, their tests, dashboard and compose file are consistent")


if __name__ == "__main__":
    main()
