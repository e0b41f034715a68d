"""The project service's money: clients, billing rates from a date, and profitability. One function per command or
query, of the validated arguments (``args``) and the kit handle (``chronicle``); the rules live in ``clients.py``,
``domain.py`` and ``access.py``, the sums in ``figures.py``."""
from __future__ import annotations

import uuid

from shared import rates as rate_book
from shared.errors import RuleViolation
from shared.handling import derive_id
from shared.money import legacy_client_id

from . import access, figures
from .clients import Client
from .domain import Project
from .projections import project_summaries


# -- clients --------------------------------------------------------------------------------------
def create_client(args, chronicle):
    """A client whose name is a legacy customer's (projects created before clients named it in free text) is created
    with that legacy client's id, so those projects are its own from then on."""
    access.require_admin(chronicle.caller, "creating a client")
    command_id = args["command_id"] or f"create-client:{uuid.uuid4()}"
    legacy, derived = legacy_client_id(args["name"]), derive_id(command_id, "client")
    if chronicle.load(Client, derived).exists:  # a retry of a creation made under the command's own id
        client_id = derived
    else:
        known = chronicle.query(lambda db: rate_book.client(db, legacy))
        client_id = legacy if known is not None else derived
    outcome = chronicle.execute(
        Client, client_id,
        lambda c: c.create(name=args["name"], currency=args["currency"], org_number=args["org_number"],
                           default_rate=args["default_rate"], contact_email=args["contact_email"]),
        command_id=command_id)
    return _client(outcome)


def update_client(args, chronicle):
    access.require_admin(chronicle.caller, "updating a client")
    chronicle.get(Client, args["client_id"], what="client")
    changes = {k: v for k, v in args.items() if k not in ("client_id", "expected_version", "command_id")}
    outcome = chronicle.execute(Client, args["client_id"], lambda c: c.update(changes),
                                command_id=args["command_id"], expected_version=args["expected_version"])
    return _client(outcome)


def set_client_rate(args, chronicle):
    access.require_admin(chronicle.caller, "setting a client's rate")
    chronicle.get(Client, args["client_id"], what="client")
    outcome = chronicle.execute(Client, args["client_id"],
                                lambda c: c.set_rate(args["rate"], args["effective_from"]),
                                command_id=args["command_id"])
    return _client(outcome)


def get_client(args, chronicle):
    """The client, its projects (a manager: those they manage) and the figures of their hours, by currency."""
    caller = chronicle.caller
    access.require_reads_clients(caller)
    chronicle.wait_for(args["min_position"])
    client = chronicle.load(Client, args["client_id"])
    known = chronicle.query(lambda db: rate_book.client(db, args["client_id"]))
    if not client.exists and known is None:
        chronicle.get(Client, args["client_id"], what="client")  # raises client.not_found
    answer = client.to_dict() if client.exists else {
        "id": args["client_id"], "name": known["name"], "org_number": None, "currency": known["currency"],
        "contact_email": None, "default_rate": None, "rates": [], "version": -1}
    visible_to = None if caller.role == "admin" else caller.subject

    def read(db):
        projects = [p for p in project_summaries(db, client_id=args["client_id"])
                    if visible_to is None or p["manager_id"] == visible_to]
        ids = [p["id"] for p in projects]
        return projects, figures.totals(db, project_ids=ids)

    projects, totals = chronicle.query(read)
    return {**answer, "legacy": not client.exists, "projects": projects, "figures": totals}


def list_clients(args, chronicle):
    access.require_reads_clients(chronicle.caller)
    return chronicle.query(rate_book.clients, min_position=args["min_position"])


# -- billing rates ---------------------------------------------------------------------------------
def set_rate(args, chronicle):
    """A billing rate from a date on the project, one of its tasks or one of its members: admins and the project's
    manager (``access.managed``, checked again on the state appended to)."""
    caller = chronicle.caller
    access.managed(caller, lambda: chronicle.get(Project, args["project_id"], what="project"), "setting a rate")

    def decide(project):
        access.managed(caller, lambda: project, "setting a rate")
        project.set_rate(args["scope"], args["subject_id"], args["rate"], args["effective_from"])

    outcome = chronicle.execute(Project, args["project_id"], decide, command_id=args["command_id"])
    history = outcome.aggregate.rates.get((args["scope"], args["subject_id"]))
    return {"project_id": args["project_id"], "scope": args["scope"], "subject_id": args["subject_id"],
            "rate": args["rate"], "effective_from": args["effective_from"],
            "rates": history.timeline() if history else [], "position": outcome.position}


def require_client(chronicle, client_id):
    """A project's client must exist: created here, or a legacy client its projects already name."""
    if client_id is None or chronicle.load(Client, client_id).exists:
        return
    if chronicle.query(lambda db: rate_book.client(db, client_id)) is None:
        raise RuleViolation(f"client {client_id} does not exist", code="project.client_unknown")


def client_currency(chronicle, client_id):
    client = chronicle.load(Client, client_id) if client_id else None
    return client.currency if client is not None and client.exists else None


# -- profitability ---------------------------------------------------------------------------------
def profitability(args, chronicle):
    """Hours, billable hours, revenue, cost, margin and margin percent of the entries dated in the range, grouped by
    project, client, employee or month and by currency: an admin sees all, a manager their own projects."""
    caller = chronicle.caller
    access.require_reads_profitability(caller)
    manager_id = None if caller.role == "admin" else caller.subject
    rows = chronicle.query(lambda db: figures.profitability(
        db, args["from_date"], args["to_date"], args["group_by"], manager_id=manager_id,
        approved_only=args["approved_only"]), min_position=args["min_position"])
    return {"from_date": args["from_date"], "to_date": args["to_date"], "group_by": args["group_by"],
            "approved_only": args["approved_only"], **rows}


def _client(outcome) -> dict:
    return {**outcome.aggregate.to_dict(), "position": outcome.position}
