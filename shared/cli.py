"""The ``chronicle`` command: run the platform locally, seed demo data, rebuild read models."""
from __future__ import annotations

import logging
import os
import signal
import sys
import time
import warnings
from datetime import date, timedelta

import typer

from . import config as cfg

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
logging.getLogger("amqp").setLevel(logging.ERROR)  # late confirms on closing channels are harmless noise

app = typer.Typer(help="Chronicle: run and operate the platform.", no_args_is_help=True)

SERVICES = ("resource", "project", "timesheet", "notification")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config_path() -> str:
    return os.path.join(ROOT, "deploy", "config.yaml")


def _nameko_config() -> dict:
    return {"AMQP_URI": cfg.amqp_uri()}


class _Stop(BaseException):
    """Ctrl-C or SIGTERM while ``run`` starts up: unwinds to the clean shutdown, never a traceback."""


def _wait_for_services(names, timeout=60.0, tick=None):
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
                    if tick is not None:
                        tick()
                    time.sleep(0.2)


def _wait_for_broker(uri, retry_every=5.0):
    """Return once the broker answers; until then say why not, one line per attempt."""
    from .supervisor import broker_problem, redact

    while True:
        problem = broker_problem(uri, timeout=min(3.0, retry_every))
        if problem is None:
            return
        print(f"chronicle run: cannot reach the broker at {redact(uri)} ({problem}); retrying every"
              f" {retry_every:.0f}s", file=sys.stderr, flush=True)
        time.sleep(retry_every)


@app.command()
def run(
    service_names: list[str] = typer.Argument(None, metavar="SERVICE",
                                              help=f"Services to start (default: all: {', '.join(SERVICES)})."),
    demo: bool = typer.Option(False, "--demo", help="Seed demo data once the services answer."),
    services: str = typer.Option(None, hidden=True, help="Comma-separated services (older spelling)."),
):
    """Start the services locally (one process each) on SQLite and the local RabbitMQ.

    One Ctrl-C (or SIGTERM) stops them all within 10 s; a service that dies is restarted with backoff."""
    from .supervisor import Child, Supervisor

    names = list(service_names or []) + [s.strip() for s in (services or "").split(",") if s.strip()]
    names = names or list(SERVICES)
    unknown = set(names) - set(SERVICES)
    if unknown:
        raise typer.BadParameter(f"unknown services: {', '.join(sorted(unknown))}; known: {', '.join(SERVICES)}")
    data_dir = os.path.abspath(cfg.data_dir())
    os.makedirs(data_dir, exist_ok=True)
    stopping = []

    def stop(signum, frame):
        if not stopping:
            stopping.append(signum)
            raise _Stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    metrics_base = os.environ.get("METRICS_PORT")
    children = []
    for index, name in enumerate(names):
        env = dict(os.environ, CHRONICLE_DATA_DIR=data_dir, CHRONICLE_SERVICE=name,
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        if metrics_base:  # one port per service: METRICS_PORT, +1, +2, ...
            env["METRICS_PORT"] = str(int(metrics_base) + index)
        children.append(Child(name, [sys.executable, "-m", "nameko", "run", "--config", _config_path(),
                                     f"services.{name}.service"], env, os.path.join(data_dir, f"{name}.log")))
    supervisor = Supervisor(children, cwd=ROOT)
    try:
        try:
            _wait_for_broker(cfg.amqp_uri())
            supervisor.start_all()
            _wait_for_services(names, tick=supervisor.check)
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
            print(f"  status:    {os.path.join(os.path.dirname(sys.executable), 'chronicle')} status")
            print("  stop:      Ctrl-C")
            sys.stdout.flush()
            while True:
                supervisor.check()
                time.sleep(0.2)
        except _Stop:
            pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # one stop, whatever else arrives meanwhile
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        killed = supervisor.stop(timeout=8.0)
        print(f"Chronicle stopped{' (killed: ' + ', '.join(killed) + ')' if killed else ''}.", flush=True)


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


@app.command()
def rebuild(
    service: str = typer.Argument(..., help="project, timesheet, resource or notification"),
    projection: str = typer.Option(None, help="Only this read model (default: all of the service's)."),
):
    """Drop a service's read models and replay them from its event store.

    Only the read models: the relay, consumer and reactor checkpoints stay, so nothing is published or acted
    on again. Safe while the service runs (each batch is one transaction with its checkpoint)."""
    kit = _kit_of(service)
    names = [p.name for p in kit.runner.projections]
    if projection and projection not in names:
        raise typer.BadParameter(f"{service} has no read model {projection!r}; it has {', '.join(names)}")
    started = time.monotonic()
    applied = kit.runner.rebuild(projection)
    print(f"{service}: rebuilt {projection or ', '.join(names)} from the events up to position"
          f" {kit.store.head_position()} ({applied} event applications) in {time.monotonic() - started:.2f}s")


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
def version():
    """Print the version."""
    print("chronicle 0.1.0")


if __name__ == "__main__":
    app()
