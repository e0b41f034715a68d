"""The ``chronicle`` command: run the platform locally, seed demo data, rebuild read models, repair parked events."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import warnings
from datetime import date, timedelta

import typer

from . import config as cfg
from . import tokens_cli

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
logging.getLogger("amqp").setLevel(logging.ERROR)  # late confirms on closing channels are harmless noise

app = typer.Typer(help="Chronicle: run and operate the platform.", no_args_is_help=True)
app.add_typer(tokens_cli.app, name="token")

SERVICES = ("resource", "project", "timesheet", "notification")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config_path() -> str:
    return os.path.join(ROOT, "deploy", "config.yaml")


def _nameko_config() -> dict:
    return {"AMQP_URI": cfg.amqp_uri()}


def _wait_for_services(names, timeout=60.0):
    from nameko.exceptions import RpcTimeout, UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    deadline = time.monotonic() + timeout
    with ClusterRpcProxy(_nameko_config(), timeout=min(10, timeout)) as rpc:
        for name in names:
            while True:
                try:
                    getattr(rpc, name).events_since(position=0, limit=1)
                    break
                except (UnknownService, RpcTimeout):
                    if time.monotonic() > deadline:
                        print(f"service {name} did not answer within {timeout:.0f}s", file=sys.stderr)
                        raise typer.Exit(1) from None
                    time.sleep(0.2)


@app.command()
def run(
    demo: bool = typer.Option(False, "--demo", help="Seed demo data once the services answer."),
    services: str = typer.Option(",".join(SERVICES), help="Comma-separated services to start."),
):
    """Start the services locally (one process each) on SQLite and the local RabbitMQ."""
    names = [s.strip() for s in services.split(",") if s.strip()]
    unknown = set(names) - set(SERVICES)
    if unknown:
        raise typer.BadParameter(f"unknown services: {', '.join(sorted(unknown))}")
    data_dir = os.path.abspath(cfg.data_dir())
    os.makedirs(data_dir, exist_ok=True)
    env = dict(os.environ, CHRONICLE_DATA_DIR=data_dir, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if not cfg.signing_keys():
        env["CHRONICLE_SIGNING_KEY"] = cfg.dev_signing_key(data_dir)
        print(f"CHRONICLE_SIGNING_KEY is not set: using the DEVELOPMENT key in {data_dir}/signing.key "
              "(never for production)", file=sys.stderr)
    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)  # stop the children on SIGTERM too, not only Ctrl-C
    procs = {}
    for name in names:
        log = open(os.path.join(data_dir, f"{name}.log"), "ab")
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "nameko", "run", "--config", _config_path(), f"services.{name}.service"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_services(names)
        if demo:
            try:
                seed_demo()
            except Exception as exc:  # the platform runs on; the demo data is a convenience
                print(f"Demo data could not be seeded: {type(exc).__name__}: {exc}", file=sys.stderr)
        print()
        print("Chronicle is running.")
        print(f"  AMQP (nameko RPC and events): {cfg.amqp_uri()}")
        print(f"  services:  {', '.join(names)}   (logs and SQLite files in {data_dir})")
        print(f"  try it:    {sys.executable} -m nameko shell --config {_config_path()}")
        print("             >>> n.rpc.project.list_projects()")
        print("             >>> n.rpc.timesheet.pending_approvals(approver_id=...)")
        print("  stop:      Ctrl-C")
        sys.stdout.flush()
        while all(p.poll() is None for p in procs.values()):
            time.sleep(0.5)
        dead = [n for n, p in procs.items() if p.poll() is not None]
        print(f"service(s) stopped: {', '.join(dead)}; see {data_dir}/<service>.log", file=sys.stderr)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def seed_demo():
    """Demo data, idempotent: every command carries a fixed command_id (the hours' ids name last week), so
    seeding twice in a week adds nothing, and a later week adds that week's hours."""
    from nameko.standalone.rpc import ClusterRpcProxy

    monday = date.today() - timedelta(days=date.today().weekday())
    last_monday = monday - timedelta(days=7)
    year, week, _ = last_monday.isocalendar()
    last_week = f"{year}-W{week:02d}"
    with ClusterRpcProxy(_nameko_config(), timeout=30) as rpc:
        people = {}
        for key, name, email, skills in (
            ("ingrid", "Ingrid Manager", "ingrid@demo.chronicle", ["management"]),
            ("ola", "Ola Developer", "ola@demo.chronicle", ["python", "architecture"]),
            ("kari", "Kari Designer", "kari@demo.chronicle", ["design"]),
        ):
            people[key] = rpc.resource.register_resource(
                name=name, email=email, skills=skills, command_id=f"demo:resource:{key}")["id"]
        project = rpc.project.create_project(
            name="Harbour Bridge Renovation", code="DEMO-HBR", manager_id=people["ingrid"], customer="City of Oslo",
            budget_hours=400, budget_amount="500000.00", hourly_rate="1250.00", command_id="demo:project")
        project_id = project["id"]
        task = rpc.project.add_task(project_id=project_id, name="Structural survey", estimate_hours=120,
                                    command_id="demo:task")
        for key, role in (("ola", "member"), ("kari", "member")):
            rpc.project.assign_member(project_id=project_id, employee_id=people[key], role=role,
                                      command_id=f"demo:member:{key}")
        rpc.resource.book_resource(resource_id=people["ola"], project_id=project_id,
                                   starts_on=monday.isoformat(), ends_on=(monday + timedelta(days=11)).isoformat(),
                                   hours_per_day=6, command_id="demo:booking:ola")
        rpc.resource.book_resource(resource_id=people["kari"], project_id=project_id,
                                   starts_on=monday.isoformat(), ends_on=(monday + timedelta(days=4)).isoformat(),
                                   hours_per_day=9, command_id="demo:booking:kari")  # overbooked: 9 > 7.5
        for offset in range(5):
            day = (last_monday + timedelta(days=offset)).isoformat()
            rpc.timesheet.log_time(employee_id=people["ola"], project_id=project_id, date=day, hours=7.5,
                                   task_id=task["id"], description="Survey of the north span",
                                   command_id=f"demo:{last_week}:log:ola:{offset}")
        rpc.timesheet.submit_timesheet(employee_id=people["ola"], week=last_week, command_id=f"demo:{last_week}:submit:ola")
        rpc.timesheet.approve_timesheet(employee_id=people["ola"], week=last_week, approver_id=people["ingrid"],
                                        command_id=f"demo:{last_week}:approve:ola")
    print(f"Demo data: project DEMO-HBR ({project_id}), manager Ingrid ({people['ingrid']}),"
          f" Ola's hours for {last_week} approved, Kari overbooked this week.")


def _kit_of(service: str):
    """The service's ``Chronicle`` dependency, opened outside any container."""
    import importlib

    from .kit import Chronicle

    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    uri = cfg.eventstore_uri(service)
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///"):].split("?", 1)[0]
        if not os.path.exists(path):
            print(f"No event store for {service} at {path}: set CHRONICLE_DATA_DIR (or EVENTSTORE_URI) to the"
                  " service's data", file=sys.stderr)
            raise typer.Exit(2)
    module = importlib.import_module(f"services.{service}.service")
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "name", None) == service:
            for attr in vars(value).values():
                if isinstance(attr, Chronicle):
                    kit = Chronicle(categories=attr.categories, events=attr.registry,
                                    projections=attr.projection_factory, sources=attr.sources,
                                    internal_categories=attr.internal_categories, reactors=attr.reactor_factory)
                    kit.open(service, dict(os.environ))
                    return kit
    raise typer.BadParameter(f"services.{service}.service has no Chronicle service class")


def _rebuild(service: str, projection: str | None, progress: bool):
    """One implementation for ``rebuild`` and ``replay``: beside the live read models, then swapped in."""
    kit = _kit_of(service)
    names = [p.name for p in kit.runner.projections]
    if projection and projection not in names:
        raise typer.BadParameter(f"{service} has no read model {projection!r}; it has {', '.join(names)}")
    started = time.monotonic()
    try:
        if progress:
            applied = _rebuild_with_progress(kit, projection)
        else:
            applied = kit.runner.rebuild(projection)
    except Exception as exc:
        print(f"{service}: rebuild failed ({type(exc).__name__}: {exc}); the live read models are unchanged",
              file=sys.stderr)
        raise typer.Exit(1) from None
    parked = len(kit.state.parked("projection"))
    print(f"{service}: rebuilt {projection or ', '.join(names)} beside the live read models and swapped them in,"
          f" up to position {min(kit.views.get_checkpoint(n) for n in ([projection] if projection else names))}"
          f" ({applied} event applications) in {time.monotonic() - started:.2f}s"
          + (f"; {parked} parked projection event(s): chronicle parked list {service}" if parked else ""))


def _console(stderr=False):
    from rich.console import Console

    console = Console(stderr=stderr)
    if not console.is_terminal:  # piped or captured: wide enough that nothing is folded
        console = Console(stderr=stderr, width=200)
    return console


def _rebuild_with_progress(kit, projection):
    from rich.progress import (
        BarColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Applied(ProgressColumn):
        """Events applied and their rate (the bar itself measures store positions)."""

        def render(self, task):
            applied = task.fields.get("applied", 0)
            elapsed = task.elapsed or 0
            rate = f"{applied / elapsed:,.0f}/s" if elapsed > 0 else "-/s"
            return Text(f"{applied:,} events applied, {rate}")

    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("position {task.completed:,.0f}/{task.total:,.0f}"), Applied(),
                  TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                  console=_console(stderr=True)) as bar:
        task = bar.add_task(f"replay {kit.service_name}", total=max(kit.store.head_position(kit.runner.categories), 1))

        def progress(position, head, applied):
            bar.update(task, completed=position, total=head, applied=applied)

        applied = kit.runner.rebuild(projection, progress=progress)
        bar.update(task, completed=bar.tasks[0].total)
        return applied


@app.command()
def rebuild(
    service: str = typer.Argument(..., help="project, timesheet, resource or notification"),
    projection: str = typer.Option(None, help="Only this read model (default: all of the service's)."),
    progress: bool = typer.Option(False, "--progress", help="Show a progress bar (what `replay` does)."),
):
    """Rebuild a service's read models from its event store, beside the live ones.

    They are replayed into a scratch file next to the views and swapped in, in one transaction, once they have
    caught up: the live read models serve until then, and stay if the rebuild fails. Safe while the service
    runs. Only the read models: the relay, consumer and reactor checkpoints live in the durable state, so
    nothing is published, recorded or acted on again (no e-mail or webhook is resent)."""
    _rebuild(service, projection, progress)


@app.command()
def replay(
    service: str = typer.Argument(..., help="project, timesheet, resource or notification"),
    projection: str = typer.Option(None, help="Only this read model (default: all of the service's)."),
):
    """`rebuild` with a progress bar: position reached and head, events applied and their rate, ETA."""
    _rebuild(service, projection, True)


parked_app = typer.Typer(help="Events set aside (parked) by a consumer, a projection or a reactor.",
                         no_args_is_help=True)
app.add_typer(parked_app, name="parked")
KINDS = ("consumer", "projection", "reactor")


def _state_of(service: str):
    from .state import DurableState

    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    path = os.environ.get("STATE_PATH") or cfg.state_path(service)
    if not os.path.exists(path):
        print(f"No durable state for {service} at {path}: set CHRONICLE_DATA_DIR (or STATE_PATH) to the service's"
              " data", file=sys.stderr)
        raise typer.Exit(2)
    return DurableState(path)


def _check_kind(kind):
    if kind is not None and kind not in KINDS:
        raise typer.BadParameter(f"kind must be one of {', '.join(KINDS)}")


def _print_parked(rows, title):
    from rich.table import Table

    table = Table(title=title)
    for column in ("id", "kind", "name", "event type", "position", "reason", "attempts", "parked at", "state",
                   "error"):
        table.add_column(column, overflow="fold")
    for r in rows:
        state = "resolved" if r["resolved_at"] else "retry requested" if r["retry_requested"] else "parked"
        table.add_row(str(r["id"]), r["kind"], r["name"], r["event_type"] or "", str(r["position"] or ""),
                      r["reason"], str(r["attempts"]), r["parked_at"], state, (r["error"] or "")[:200])
    _console().print(table)


@parked_app.command("list")
def parked_list(
    service: str = typer.Argument(..., help="project, timesheet, resource or notification"),
    kind: str = typer.Option(None, help="consumer, projection or reactor (default: all)."),
    include_resolved: bool = typer.Option(False, "--all", help="Also the entries already resolved."),
    as_json: bool = typer.Option(False, "--json", help="JSON (one list, envelopes included)."),
):
    """List a service's parked events (read from its durable state; the service may be running)."""
    _check_kind(kind)
    rows = _state_of(service).parked(kind=kind, include_resolved=include_resolved)
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
    elif not rows:
        print(f"{service}: no parked events")
    else:
        _print_parked(rows, f"{service}: parked events")


@parked_app.command("retry")
def parked_retry(
    service: str = typer.Argument(..., help="project, timesheet, resource or notification"),
    parked_id: int = typer.Option(None, "--id", help="Only this entry (default: every open one)."),
    kind: str = typer.Option(None, help="Only this kind: consumer, projection or reactor."),
    wait: float = typer.Option(0.0, help="Seconds to wait for the running service's outcome (0: do not wait)."),
    as_json: bool = typer.Option(False, "--json", help="JSON output."),
):
    """Ask the service to try parked events again.

    Marks the entries in the durable state; the running service's views loop retries them within its poll
    interval (a stopped service does at its next start): a projection re-applies the event, a reactor reacts
    again, a consumer records it again. Resolved on success; otherwise the entry stays parked with the new
    error. With --wait, waits for and prints the outcome, exiting 1 unless every entry was resolved."""
    _check_kind(kind)
    state = _state_of(service)
    marked_ids = [r["id"] for r in state.parked(kind=kind)
                  if parked_id is None or r["id"] == parked_id]
    marked = state.request_retry(parked_id=parked_id, kind=kind)
    if not marked:
        what = f"no open parked entry {parked_id}" if parked_id is not None else "no open parked entries"
        print(f"{service}: {what}" + (f" of kind {kind}" if kind else ""), file=sys.stderr)
        raise typer.Exit(1)
    rows = []
    if wait > 0:
        deadline = time.monotonic() + wait
        while True:
            rows = [r for r in state.parked(kind=kind, include_resolved=True) if r["id"] in marked_ids]
            if not any(r["retry_requested"] for r in rows) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    if as_json:
        print(json.dumps({"marked": marked, "entries": rows}, indent=2, default=str))
    else:
        print(f"{service}: {marked} parked entr{'y' if marked == 1 else 'ies'} marked for retry;"
              " the running service retries them within its poll interval (a stopped one at its next start)")
        if rows:
            _print_parked(rows, f"{service}: after waiting {wait:g}s")
    if wait > 0 and not all(r["resolved_at"] for r in rows):
        raise typer.Exit(1)


@app.command()
def demo():
    """Seed demo data into running services."""
    try:
        _wait_for_services(SERVICES, timeout=10)
    except typer.Exit:
        print(f"The services are not answering on {cfg.amqp_uri()}: start them with `make run` first.",
              file=sys.stderr)
        raise typer.Exit(1) from None
    seed_demo()


@app.command()
def contracts(check: bool = typer.Option(False, "--check", help="Only check: exit 1 if a file is stale.")):
    """Write the event contracts (docs/contracts/*.json and docs/asyncapi.yaml) from the services' schemas."""
    from . import contracts as event_contracts

    if check:
        stale = event_contracts.stale()
        if stale:
            print("stale event contracts (run `chronicle contracts`): " + ", ".join(stale), file=sys.stderr)
            raise typer.Exit(1)
        print("event contracts are up to date")
        return
    broken = event_contracts.compatibility(event_contracts.committed(), event_contracts.json_schemas())
    if broken:  # nothing written: a breaking change needs a new schema version and an upcaster
        for problem in broken:
            print(f"breaking change without a new schema version: {problem}", file=sys.stderr)
        raise typer.Exit(1)
    written = event_contracts.write()
    print(f"wrote {len(written)} files under docs/")


@app.command()
def version():
    """Print the version."""
    print("chronicle 0.1.0")


if __name__ == "__main__":
    app()
