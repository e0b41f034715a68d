"""The hours export's read side: each entry's export line, the log of its changes (delta exports), the names and
clients the lines carry, and the CSV writing (RFC 4180, formula injection neutralised).

- **Lines.** An entry's line is what payroll and invoicing take from it: its own fields, its approval status (with
  who approved it and when), its invoice reference. Names, client, currency, rates and amounts are added when the
  export is read (``_Facts``: the shared rates read model and the shared pricing code).
- **The log** (``ts_export_log``): a row per line that an event changed, at the event's store position, with the line
  before and after (null: none, e.g. deleted). ``TimesheetsView`` logs an entry's own event from the line it builds
  as it writes the entry (``entry_line``), and calls ``track`` after the other events that may change lines; each
  entry points at its line last logged (``ts_entries.logged_position``, ``logged_idx``), its next change's ``before``.
- **Deltas.** ``delta`` reads the log after a cursor and turns each change into rows with an ``action``: ``add``
  (a line the integration does not have), ``reverse`` (take back the line it has), ``replace`` (the line's new
  version, after a ``reverse`` of the old one). Applied in order, they leave exactly the lines of a full export.
- **Cursors** are ``<position>-<index>`` (``0``: from the start), the place of the last change a page returned.

Pure: functions of the read model (``db``); no nameko, no clock.
"""
from __future__ import annotations

import csv
import io
import json
import re

from shared import money, rates
from shared.errors import ValidationError
from shared.validation import hours

EXPORT_COLUMNS = ("entry_id", "date", "employee_id", "employee_name", "client", "project_id", "project_code",
                  "project_name", "task_id", "task_name", "description", "hours", "billable", "billing_rate",
                  "billable_amount", "cost_rate", "cost_amount", "currency", "status", "approved_by", "approved_at",
                  "invoice_ref")
DELTA_COLUMNS = ("action", *EXPORT_COLUMNS)
ADD, REVERSE, REPLACE = "add", "reverse", "replace"
START = "0"
CURSOR = re.compile(r"(0|[0-9]{1,19}-[0-9]{1,9})\Z")
# A spreadsheet runs a cell that starts with one of these as a formula: such a text cell gets a leading "'".
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# -- the log, kept by TimesheetsView ------------------------------------------------------------------------
TABLES = ("ts_invoices", "ts_export_log")


def setup(db):
    db.execute("CREATE TABLE IF NOT EXISTS ts_invoices (entry_id TEXT PRIMARY KEY, invoice_ref TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS ts_export_log (position INTEGER, idx INTEGER, entry_id TEXT,"
               " before TEXT, after TEXT, PRIMARY KEY (position, idx))")


_LINE = ("SELECT e.entry_id, e.employee_id, e.project_id, e.task_id, e.date, e.hours, e.billable, e.description,"
         " e.status, l.approved_by, l.approved_at, i.invoice_ref, e.deleted,"
         " (SELECT after FROM ts_export_log x WHERE x.position = e.logged_position AND x.idx = e.logged_idx) AS logged"
         " FROM ts_entries e"
         " LEFT JOIN ts_lines l ON l.employee_id = e.employee_id AND l.week = e.week AND l.project_id = e.project_id"
         " LEFT JOIN ts_invoices i ON i.entry_id = e.entry_id WHERE e.entry_id = ?")


def line(db, entry_id) -> dict | None:
    """The entry's export line now (None: there is none, it was deleted)."""
    row = db.execute(_LINE, (entry_id,)).fetchone()
    return None if row is None or row["deleted"] else _line(row)


def entry_line(entry_row, status, approved_by, approved_at, invoice_ref) -> dict:
    """The line ``line`` reads back for an entry just written as ``entry_row`` (``ts_entries``' columns up to its
    description) with ``status``, its project line's approval and its invoice."""
    entry_id, employee_id, _week, project_id, task_id, date, centis, billable, description = entry_row
    return _line({"entry_id": entry_id, "employee_id": employee_id, "project_id": project_id, "task_id": task_id,
                  "date": date, "hours": centis, "billable": billable, "description": description,
                  "status": status, "approved_by": approved_by, "approved_at": approved_at,
                  "invoice_ref": invoice_ref})


def _line(r) -> dict:
    """A line from a row of ``ts_entries`` joined to its line and invoice (a mapping with the keys read below)."""
    approved = r["status"] == "approved"
    return {"entry_id": r["entry_id"], "employee_id": r["employee_id"], "project_id": r["project_id"],
            "task_id": r["task_id"], "date": r["date"], "hours": hours(r["hours"]), "billable": bool(r["billable"]),
            "description": r["description"], "status": r["status"],
            "approved_by": r["approved_by"] if approved else None,
            "approved_at": r["approved_at"] if approved else None, "invoice_ref": r["invoice_ref"]}


_LOGGED = json.JSONEncoder(sort_keys=True)  # json.dumps(..., sort_keys=True) without a new encoder a line


def as_logged(now: dict | None) -> str | None:
    """A line as the log stores it."""
    return None if now is None else _LOGGED.encode(now)


def log_change(db, position: int, idx: int, entry_id, before, after) -> bool:
    """Log an entry's line as the event at ``position`` left it (``before``, ``after``: as logged), as that event's
    ``idx``-th change, if it changed. Returns whether it logged (the caller then points the entry's
    ``logged_position`` and ``logged_idx`` at it)."""
    if before == after:
        return False
    db.execute("INSERT INTO ts_export_log VALUES (?, ?, ?, ?, ?)", (position, idx, entry_id, before, after))
    return True


def track(db, position: int, entry_ids):
    """Log the lines among ``entry_ids`` that an event (at ``position``) changed. An event is tracked once, so its
    changes count from 0 (the key (position, idx) refuses a second tracking rather than mix them)."""
    idx = 0
    for entry_id in sorted(set(entry_ids)):
        row = db.execute(_LINE, (entry_id,)).fetchone()
        if row is None:
            continue  # never had a line
        after = None if row["deleted"] else as_logged(_line(row))
        if log_change(db, position, idx, entry_id, row["logged"], after):
            db.execute("UPDATE ts_entries SET logged_position = ?, logged_idx = ? WHERE entry_id = ?",
                       (position, idx, entry_id))
            idx += 1


def week_entry_ids(db, employee_id, week) -> list[str]:
    return [r[0] for r in db.execute("SELECT entry_id FROM ts_entries WHERE employee_id = ? AND week = ?",
                                     (employee_id, week))]


# -- names, clients, rates and amounts: the shared rates read model (shared/rates.py) --------------------------
class _Facts:
    """Look-ups for a page of lines, each read once: names and codes (``ts_projects``, ``ts_tasks``), and from the
    shared rates read model (``shared.rates.RatesView``, over the project and resource events this service records)
    the client, the currency and the rate histories. Amounts come from the one pricing function
    (``shared.money.price``): an hour priced at the rates in force on its own date.

    A line's names are worked out once per (project, task, person), and its money once per (project, task, person,
    date, hours, billable): the lines of a page repeat these, and the rates in force depend on the date only."""

    def __init__(self, db):
        self.db = db
        self._names: dict = {}
        self._levels: dict = {}
        self._money: dict = {}

    def row(self, ln: dict) -> dict:
        """The export row of a line, in ``EXPORT_COLUMNS``' order."""
        who = (ln["project_id"], ln["task_id"], ln["employee_id"])
        names = self._names.get(who)
        if names is None:
            names = self._names[who] = self.names(*who)
        priced_key = (*who, ln["date"], ln["hours"], ln["billable"])
        priced = self._money.get(priced_key)
        if priced is None:
            priced = self._money[priced_key] = self.price(ln)
        return {"entry_id": ln["entry_id"], "date": ln["date"], "employee_id": ln["employee_id"],
                "employee_name": names["employee_name"], "client": names["client"], "project_id": ln["project_id"],
                "project_code": names["project_code"], "project_name": names["project_name"],
                "task_id": ln["task_id"], "task_name": names["task_name"], "description": ln["description"],
                "hours": ln["hours"], "billable": ln["billable"], "billing_rate": priced["billing_rate"],
                "billable_amount": priced["billable_amount"], "cost_rate": priced["cost_rate"],
                "cost_amount": priced["cost_amount"], "currency": names["currency"], "status": ln["status"],
                "approved_by": ln["approved_by"], "approved_at": ln["approved_at"], "invoice_ref": ln["invoice_ref"]}

    def names(self, project_id, task_id, employee_id) -> dict:
        project = self.db.execute("SELECT code, name FROM ts_projects WHERE project_id = ?", (project_id,)).fetchone()
        task = self.db.execute("SELECT name FROM ts_tasks WHERE project_id = ? AND task_id = ?",
                               (project_id, task_id)).fetchone()
        client = rates.client_of(self.db, project_id) or {}
        return {"employee_name": rates.employee_name(self.db, employee_id), "client": client.get("client_name"),
                "project_code": (project[0] if project else None) or client.get("project_code"),
                "project_name": (project[1] if project else None) or client.get("project_name"),
                "task_name": task[0] if task else None, "currency": client.get("currency")}

    def price(self, ln: dict) -> dict:
        who = (ln["project_id"], ln["task_id"], ln["employee_id"])
        levels = self._levels.get(who)
        if levels is None:
            levels = self._levels[who] = rates.histories_for(self.db, *who)
        billing, _ = money.billing_rate_and_level(ln["date"], **{k: v for k, v in levels.items() if k != "cost"})
        cost = levels["cost"].rate_on(ln["date"])
        billable_amount, cost_amount = money.price(ln["hours"], ln["billable"], billing, cost)
        return {"billing_rate": money.as_str(billing), "billable_amount": money.as_str(billable_amount),
                "cost_rate": money.as_str(cost), "cost_amount": money.as_str(cost_amount)}


def export_lines(db, lines) -> list[dict]:
    return list(map(_Facts(db).row, lines))


# -- the full export ----------------------------------------------------------------------------------------
_EXPORT_ORDER = "e.date, e.employee_id, COALESCE(p.code, ''), e.entry_id"  # the export's order, and its page key


def export_key(after):
    """``export_hours``' ``after``: the key of the last row of the previous page (its ``next``)."""
    if after is None:
        return None
    try:
        key = json.loads(after)
    except ValueError:
        key = None
    if not (isinstance(key, list) and len(key) == 4 and all(isinstance(k, str) for k in key)):
        raise ValidationError({"after": ["Not a key an export page gave."]})
    return key


def export_rows(db, from_date, to_date, status="all", after=None, limit=None) -> list[dict]:
    """One page of the hours export in its order (``after``: the key ``export_key`` read)."""
    sql = ("SELECT e.entry_id, e.employee_id, e.project_id, e.task_id, e.date, e.hours, e.billable,"
           " e.description, e.status, l.approved_by, l.approved_at, i.invoice_ref FROM ts_entries e"
           " LEFT JOIN ts_lines l ON l.employee_id = e.employee_id AND l.week = e.week AND l.project_id = e.project_id"
           " LEFT JOIN ts_projects p ON p.project_id = e.project_id"
           " LEFT JOIN ts_invoices i ON i.entry_id = e.entry_id"
           " WHERE e.deleted = 0 AND e.date >= ? AND e.date <= ?")
    params = [from_date, to_date]
    if status != "all":
        sql += " AND e.status = ?"
        params.append(status)
    if after is not None:
        sql += f" AND ({_EXPORT_ORDER}) > (?, ?, ?, ?)"
        params += after
    sql += f" ORDER BY {_EXPORT_ORDER}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return export_lines(db, [_line(r) for r in db.execute(sql, params)])


def export_page(rows, limit, format):
    """The export as the caller asked for it: JSON with the key of the next page, or CSV."""
    if format == "json":
        last = rows[-1] if rows and limit is not None and len(rows) == limit else None
        next_key = json.dumps([last["date"], last["employee_id"], last["project_code"] or "", last["entry_id"]]) \
            if last else None
        return {"rows": rows, "count": len(rows), "columns": list(EXPORT_COLUMNS), "next": next_key}
    return to_csv(rows, EXPORT_COLUMNS)


# -- CSV ---------------------------------------------------------------------------------------------------
def csv_cell(value):
    """A value as a CSV cell: null empty, booleans true/false, and a text that a spreadsheet would run as a
    formula (it starts with =, +, -, @, a tab or a carriage return) prefixed with a single quote."""
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_writer(buffer):
    return csv.writer(buffer, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")  # RFC 4180


def to_csv(rows, columns, header=True) -> str:
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    if header:
        writer.writerow(columns)
    for r in rows:
        writer.writerow([csv_cell(r[k]) for k in columns])
    return buffer.getvalue()


# -- delta exports ------------------------------------------------------------------------------------------
def cursor_key(cursor: str) -> tuple[int, int]:
    if cursor is None or not CURSOR.match(cursor):
        raise ValidationError({"since": ["Not a cursor an export gave (or 0: from the start)."]})
    if cursor == START:
        return (0, -1)
    position, idx = cursor.split("-")
    return int(position), int(idx)


def _visible(raw, status, from_date, to_date):
    if raw is None:
        return None
    ln = json.loads(raw)
    if status != "all" and ln["status"] != status:
        return None
    if (from_date and ln["date"] < from_date) or (to_date and ln["date"] > to_date):
        return None
    return ln


def changes(before, after) -> list[tuple[str, dict]]:
    """One change of a line, as the rows an integration applies: (action, line)."""
    if before == after:
        return []
    if before is None:
        return [(ADD, after)]
    if after is None:
        return [(REVERSE, before)]
    return [(REVERSE, before), (REPLACE, after)]


def delta(db, since: str, limit: int, status="approved", from_date=None, to_date=None) -> dict:
    """The changes after ``since``: at most ``limit`` changes of lines (so at most twice as many rows), as rows
    with an ``action``, in the order they happened; ``next``: the cursor for the next call; ``more``: there are
    more changes after this page already."""
    key = cursor_key(since)
    logged = db.execute("SELECT position, idx, before, after FROM ts_export_log WHERE (position, idx) > (?, ?)"
                        " ORDER BY position, idx LIMIT ?", (*key, limit + 1)).fetchall()
    more = len(logged) > limit
    logged = logged[:limit]
    out = []
    for r in logged:
        out += changes(_visible(r["before"], status, from_date, to_date),
                       _visible(r["after"], status, from_date, to_date))
    rows = [{"action": action, **ln} for action, ln in zip((a for a, _ in out), export_lines(db, [ln for _, ln in out]),
                                                             strict=True)]
    next_cursor = f"{logged[-1]['position']}-{logged[-1]['idx']}" if logged else since
    return {"rows": rows, "count": len(rows), "columns": list(DELTA_COLUMNS), "since": since, "next": next_cursor,
            "more": more}
