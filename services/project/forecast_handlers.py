"""The forecast's queries: ``project_forecast``, ``project_burn`` and ``project_health``. Each reads the project (as
the role rule allows), its facts from the forecast's read model and its hours logged as the time entries' running
sums by phase (``projections.actuals``; the burn, by period, reads every entry), and leaves the arithmetic to
``forecast.py``.
``today`` comes in from the service's calendar (``today.Today``)."""
from __future__ import annotations

from datetime import date

from shared.validation import hours

from . import access
from . import forecast as fc
from .domain import Project
from .forecast_views import facts_of, project_facts, project_plan, rate_histories, waiting_weeks
from .projections import actuals

WHAT = "reading a project's forecast"


def _facts(chronicle, args, what=WHAT, entries=False):
    """The project and its forecast's facts; the hours logged as its ``actuals`` by phase (a few rows), or with
    ``entries`` every entry (what the burn spreads over its periods) and None."""
    project = access.managed(chronicle.caller, lambda: chronicle.get(Project, args["project_id"], what="project"),
                             what)
    rows, rates, actual = chronicle.query(lambda db: (
        project_facts(db, project.id) if entries else project_plan(db, project.id),
        rate_histories(db, project.id, project.client_id),
        None if entries else actuals(db, project.id)), min_position=args["min_position"])
    return project, facts_of(project, rows, rates), actual


def shown(figures: dict) -> dict:
    """Figures as answered: centi-hours as hours (``x_centi`` -> ``x_hours``), money as strings with 2 decimals."""
    out = {}
    for key, value in figures.items():
        if key.endswith("_centi"):
            out[key[:-len("_centi")] + "_hours"] = hours(value)
        elif key.endswith("_amount"):
            out[key] = fc.money(value)
        elif isinstance(value, dict):
            out[key] = shown(value)
        elif isinstance(value, list):
            out[key] = [shown(v) if isinstance(v, dict) else v for v in value]
        else:
            out[key] = value
    return out


def project_forecast(args, chronicle, *, today: date):
    project, facts, actual = _facts(chronicle, args)
    result = fc.forecast(facts, today, actual)
    return {"project_id": project.id, "currency": project.currency, **shown(result)}


def project_burn(args, chronicle, *, today: date):
    project, facts, _ = _facts(chronicle, args, "reading a project's burn", entries=True)
    series = fc.burn(facts, today, args["interval"])
    return {"project_id": project.id, "interval": args["interval"], "today": today.isoformat(),
            "currency": project.currency, "series": [shown(row) for row in series]}


def project_health(args, chronicle, *, today: date, waiting_days: int):
    project, facts, actual = _facts(chronicle, args, "reading a project's health")
    waiting_days = args["waiting_days"] or waiting_days
    milestones = [{"name": m["name"], "due_on": m["due_on"], "status": m["status"]}
                  for m in getattr(project, "milestones", {}).values()]
    waiting = chronicle.query(lambda db: waiting_weeks(db, project.id))
    health = fc.health(facts, fc.forecast(facts, today, actual), milestones, waiting, today, waiting_days)
    return {"project_id": project.id, "waiting_days": waiting_days, **health}
