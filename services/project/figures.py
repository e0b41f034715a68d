"""Money figures over the priced time entries (``projections.TimeEntriesView``): sums in exact integer cents and
centi-hours, grouped by currency, never converted. Read side only."""
from __future__ import annotations

from shared.money import as_str, from_cents, margin_percent
from shared.validation import hours

GROUPS = {
    # group_by -> (the key's SQL, the label's SQL)
    "project": ("e.project_id", "COALESCE(p.code, e.project_id)"),
    "client": ("p.client_id", "COALESCE(c.name, p.customer)"),
    "employee": ("e.employee_id", "COALESCE(r.name, e.employee_id)"),
    "month": ("substr(e.date, 1, 7)", "substr(e.date, 1, 7)"),
}

_SUMS = ("SUM(e.centi) AS centi, SUM(CASE WHEN e.billable THEN e.centi ELSE 0 END) AS billable_centi,"
         " SUM(COALESCE(e.billable_cents, 0)) AS revenue_cents, SUM(COALESCE(e.cost_cents, 0)) AS cost_cents,"
         " SUM(CASE WHEN e.billable AND e.billing_rate IS NULL THEN e.centi ELSE 0 END) AS unpriced_centi,"
         " SUM(CASE WHEN e.cost_rate IS NULL THEN e.centi ELSE 0 END) AS uncosted_centi")
_FROM = (" FROM time_entries e LEFT JOIN rates_projects p ON p.project_id = e.project_id"
         " LEFT JOIN rates_clients c ON c.client_id = p.client_id"
         " LEFT JOIN rates_people r ON r.employee_id = e.employee_id")


def _figures(row) -> dict:
    revenue, cost = from_cents(row["revenue_cents"] or 0), from_cents(row["cost_cents"] or 0)
    pct = margin_percent(revenue, cost)
    return {"hours": hours(row["centi"] or 0), "billable_hours": hours(row["billable_centi"] or 0),
            "revenue": as_str(revenue), "cost": as_str(cost), "margin": as_str(revenue - cost),
            "margin_percent": None if pct is None else float(pct),
            "missing_rates": {"billing_hours": hours(row["unpriced_centi"] or 0),
                              "cost_hours": hours(row["uncosted_centi"] or 0)}}


def totals(db, *, project_ids=None, where="1 = 1", params=()) -> list[dict]:
    """The figures of the entries (of ``project_ids`` when given), one row per currency."""
    sql, args = f"SELECT COALESCE(p.currency, '') AS currency, {_SUMS}{_FROM} WHERE {where}", list(params)
    if project_ids is not None:
        if not project_ids:
            return []
        sql += f" AND e.project_id IN ({','.join('?' * len(project_ids))})"
        args += list(project_ids)
    return [{"currency": row["currency"] or None, **_figures(row)}
            for row in db.execute(sql + " GROUP BY COALESCE(p.currency, '') ORDER BY 1", args) if row["centi"]]


def profitability(db, from_date: str, to_date: str, group_by: str, *, manager_id=None, approved_only=False) -> dict:
    """{"rows": [{"key", "label", "currency", figures...}], "totals": [per currency]} of the entries dated from
    ``from_date`` to ``to_date`` (both included); ``manager_id``: only the projects they manage."""
    key, label = GROUPS[group_by]
    where, params = "e.date >= ? AND e.date <= ?", [from_date, to_date]
    if manager_id is not None:
        where += " AND p.manager_id = ?"
        params.append(manager_id)
    if approved_only:
        where += " AND e.approved = 1"
    rows = db.execute(
        f"SELECT {key} AS key, {label} AS label, COALESCE(p.currency, '') AS currency, {_SUMS}{_FROM}"
        f" WHERE {where} GROUP BY {key}, COALESCE(p.currency, '') ORDER BY label, key, currency", params)
    return {"rows": [{"key": row["key"], "label": row["label"], "currency": row["currency"] or None, **_figures(row)}
                     for row in rows],
            "totals": totals(db, where=where, params=params)}
