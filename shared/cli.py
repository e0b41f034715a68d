"""The ``chronicle`` command: run the platform locally, seed demo data, rebuild read models, repair parked events."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import signal
import sys
import time
import warnings
from datetime import date, timedelta

import typer

from . import config as cfg
from . import remote_errors, tokens_cli  # noqa: F401  remote_errors: RPC calls raise the kit's errors typed
from .catalog import CATEGORIES
from .errors import ChronicleError

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
logging.getLogger("amqp").setLevel(logging.ERROR)  # late confirms on closing channels are harmless noise

app = typer.Typer(help="Chronicle: run and operate the platform.", no_args_is_help=True)
app.add_typer(tokens_cli.app, name="token")

SERVICES = ("resource", "project", "timesheet", "notification")
GATEWAY = "gateway"  # the HTTP API: started by ``run`` with the services, but it has no store of its own
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config_path() -> str:
    return os.path.join(ROOT, "deploy", "config.yaml")


def _nameko_config() -> dict:
    return {"AMQP_URI": cfg.amqp_uri()}


def _operator():
    """The nameko context data of this command's RPCs: an internal admin token minted with the token key (who
    holds the key operates the platform; see shared/identity.py)."""
    from .identity import InternalCredentials, TokenBook

    return InternalCredentials(TokenBook(None, cfg.token_key()), "chronicle-cli", role="admin").refresh()


class _Stop(BaseException):
    """Ctrl-C or SIGTERM while ``run`` starts up: unwinds to the clean shutdown, never a traceback."""


def _wait_for_services(names, timeout=60.0, tick=None):
    from nameko.exceptions import RpcTimeout, UnknownService
    from nameko.standalone.rpc import ClusterRpcProxy

    deadline = time.monotonic() + timeout
    with ClusterRpcProxy(_nameko_config(), timeout=min(10, timeout), context_data=_operator()) as rpc:
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
    names = names or [*SERVICES, GATEWAY]
    unknown = set(names) - {*SERVICES, GATEWAY}
    if unknown:
        raise typer.BadParameter(f"unknown services: {', '.join(sorted(unknown))}; known: "
                                 f"{', '.join([*SERVICES, GATEWAY])}")
    data_dir = os.path.abspath(cfg.data_dir())
    os.makedirs(data_dir, exist_ok=True)
    stopping = []
    base_env = dict(os.environ)
    if not cfg.signing_keys():
        base_env["CHRONICLE_SIGNING_KEY"] = cfg.dev_signing_key(data_dir)
        print(f"CHRONICLE_SIGNING_KEY is not set: using the DEVELOPMENT key in {data_dir}/signing.key "
              "(never for production)", file=sys.stderr)
    if not os.environ.get("CHRONICLE_TOKEN_KEY"):
        base_env["CHRONICLE_TOKEN_KEY"] = cfg.token_key()
        print(f"CHRONICLE_TOKEN_KEY is not set: using the DEVELOPMENT key in {data_dir}/token.key "
              "(never for production)", file=sys.stderr)

    def stop(signum, frame):
        if not stopping:
            stopping.append(signum)
            raise _Stop()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    metrics_base = os.environ.get("METRICS_PORT")
    children = []
    for index, name in enumerate(names):
        env = dict(base_env, CHRONICLE_DATA_DIR=data_dir, CHRONICLE_SERVICE=name,
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
            _wait_for_services([n for n in names if n != GATEWAY], tick=supervisor.check)
            if GATEWAY in names:
                _wait_for_gateway(tick=supervisor.check)
            tokens = {}
            if demo:
                try:
                    tokens = seed_demo(data_dir)
                except Exception as exc:  # the platform runs on; the demo data is a convenience
                    print(f"Demo data could not be seeded: {type(exc).__name__}: {exc}", file=sys.stderr)
            print()
            print("Chronicle is running.")
            print(f"  AMQP (nameko RPC and events): {cfg.amqp_uri()}")
            print(f"  services:  {', '.join(names)}   (logs and SQLite files in {data_dir})")
            if tokens:
                print(f"  admin token (Ada, demo): {tokens['ada']}")
                print(f"  manager token (Ingrid, demo): {tokens['ingrid']}")
                print(f"  employee token (Ola, demo): {tokens['ola']}")
            else:
                print(f"  tokens:    {os.path.join(os.path.dirname(sys.executable), 'chronicle')} token create"
                      " --user <resource id> --role admin")
            if GATEWAY in names:
                api = f"http://{cfg.gateway_address()}"
                print(f"  HTTP API:  {api}/api/v1   (OpenAPI: {api}/openapi.json, docs/api.md)")
                print(f"  curl:      curl -H 'Authorization: Bearer {tokens.get('ada', '<token>')}' {api}/api/v1/projects")
            print(f"  try it:    {sys.executable} -m nameko shell --config {_config_path()}")
            print(f"             >>> n.rpc._worker_ctx.data['authorization'] = 'Bearer {tokens.get('ada', '<token>')}'")
            print("             >>> n.rpc.project.list_projects()")
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


def _wait_for_gateway(timeout=60.0, tick=None):
    import requests

    url, deadline = f"http://{cfg.gateway_address()}/health", time.monotonic() + timeout
    while True:
        try:
            requests.get(url, timeout=5)  # any answer: it listens (/health says 503 while a service is away)
            return
        except requests.RequestException:
            if time.monotonic() > deadline:
                print(f"the gateway did not answer on {url} within {timeout:.0f}s", file=sys.stderr)
                raise typer.Exit(1) from None
            if tick is not None:
                tick()
            time.sleep(0.2)


DEMO_PEOPLE = (  # key, name, e-mail, skills, role
    ("ada", "Ada Admin", "ada@demo.chronicle", ["operations"], "admin"),
    ("ingrid", "Ingrid Manager", "ingrid@demo.chronicle", ["management"], "manager"),
    ("ola", "Ola Developer", "ola@demo.chronicle", ["python", "architecture"], "employee"),
    ("kari", "Kari Designer", "kari@demo.chronicle", ["design"], "employee"),
)


def demo_tokens(data_dir: str, people: dict) -> dict:
    """DEVELOPMENT ONLY: one bearer token per demo person, issued once and kept in ``<data dir>/demo-tokens.json``
    (mode 0600) so that every ``make run`` prints the same ones."""
    from .eventstore import open_store
    from .identity import TokenBook

    path = os.path.join(data_dir, "demo-tokens.json")
    try:
        with open(path) as f:
            tokens = json.load(f)
    except (OSError, ValueError):
        tokens = {}
    book = TokenBook(open_store(cfg.identity_store_uri()), cfg.token_key())
    for key, *_, role in DEMO_PEOPLE:
        try:
            if key in tokens and book.authenticate(f"Bearer {tokens[key]}").subject == people[key]:
                continue
        except ChronicleError:
            pass
        tokens[key] = book.issue(people[key], role, label=f"demo {key}")[1]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(tokens, f)
    return tokens


def seed_demo(data_dir: str) -> dict:
    """Demo data, idempotent: every command carries a fixed command_id (the hours' ids name last week), so
    seeding twice in a week adds nothing, and a later week adds that week's hours. Each act is done by its
    person, with their own token. Returns the demo people's tokens."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from .identity import bearer

    monday = date.today() - timedelta(days=date.today().weekday())
    last_monday = monday - timedelta(days=7)
    year, week, _ = last_monday.isocalendar()
    last_week = f"{year}-W{week:02d}"
    config = _nameko_config()
    with ClusterRpcProxy(config, timeout=30, context_data=_operator()) as rpc:
        people = {key: rpc.resource.register_resource(name=name, email=email, skills=skills,
                                                      command_id=f"demo:resource:{key}")["id"]
                  for key, name, email, skills, _ in DEMO_PEOPLE}
    tokens = demo_tokens(data_dir, people)
    with ClusterRpcProxy(config, timeout=30, context_data=bearer(tokens["ada"])) as rpc:
        project = rpc.project.create_project(
            name="Harbour Bridge Renovation", code="DEMO-HBR", manager_id=people["ingrid"], customer="City of Oslo",
            budget_hours=400, budget_amount="500000.00", hourly_rate="1250.00", command_id="demo:project")
        project_id = project["id"]
    with ClusterRpcProxy(config, timeout=30, context_data=bearer(tokens["ingrid"])) as rpc:
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
    with ClusterRpcProxy(config, timeout=30, context_data=bearer(tokens["ola"])) as rpc:
        for offset in range(5):
            day = (last_monday + timedelta(days=offset)).isoformat()
            rpc.timesheet.log_time(employee_id=people["ola"], project_id=project_id, date=day, hours=7.5,
                                   task_id=task["id"], description="Survey of the north span",
                                   command_id=f"demo:{last_week}:log:ola:{offset}")
        rpc.timesheet.submit_timesheet(employee_id=people["ola"], week=last_week,
                                       command_id=f"demo:{last_week}:submit:ola")
    with ClusterRpcProxy(config, timeout=30, context_data=bearer(tokens["ingrid"])) as rpc:
        rpc.timesheet.approve_timesheet(employee_id=people["ola"], week=last_week,  # as Ingrid, her token
                                        command_id=f"demo:{last_week}:approve:ola")
    print(f"Demo data: project DEMO-HBR ({project_id}), manager Ingrid ({people['ingrid']}),"
          f" Ola's hours for {last_week} approved, Kari overbooked this week.")
    return tokens


# -- operating a running platform ------------------------------------------------------------------
def _fail(message: str, code: int = 1):
    print(f"chronicle: {message}", file=sys.stderr)
    raise typer.Exit(code)


@contextlib.contextmanager
def _cluster(timeout: float = 10.0):
    """A standalone RPC proxy to the running services, once the broker is known to answer (else one line)."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from .supervisor import broker_problem, redact

    problem = broker_problem(cfg.amqp_uri(), timeout=3.0)
    if problem:
        _fail(f"cannot reach the broker at {redact(cfg.amqp_uri())} ({problem})")
    with ClusterRpcProxy(_nameko_config(), timeout=timeout, context_data=_operator()) as rpc:
        yield rpc


def _remote_error(exc) -> str:
    if isinstance(exc, ChronicleError):
        return f"{type(exc).__name__} {exc.code}: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _echo_json(value):
    print(json.dumps(value, sort_keys=True, default=str))


def _service_status(rpc, name, timeout):
    """(status dict, answered): over RPC, or from the service's local files when it does not answer."""
    try:
        return getattr(rpc, name).status(), True
    except Exception as exc:  # down, unknown, timed out: read what its files say, if they are here
        reason = _remote_error(exc)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            kit = _kit_of(name)
    except (typer.Exit, Exception):
        return {"service": name, "error": reason}, False
    from .observe import status

    found = status(kit)
    found["error"], found["from_files"] = reason, True
    return found, False


def _dead_deliveries(rpc) -> tuple[list, bool]:
    """(dead e-mails and webhook deliveries, each with its ``channel`` and ``id``; whether e-mails are included),
    from the notification service's ``dead_deliveries`` RPC, or from its webhook listings where it has none."""
    from nameko.exceptions import MethodNotFound

    try:
        return rpc.notification.dead_deliveries(limit=1000), True
    except MethodNotFound:  # an older notification service: only webhooks can be listed
        return [{"channel": "webhook", **d} for w in rpc.notification.list_webhooks()
                for d in rpc.notification.deliveries(webhook_id=w["id"], limit=500) if d["status"] == "dead"], False


@app.command()
def status(
    service_names: list[str] = typer.Argument(None, metavar="SERVICE", help="Services (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="One JSON document instead of a table."),
    max_lag: int = typer.Option(100, help="Exit non-zero when anything is more than this many positions behind."),
    timeout: float = typer.Option(5.0, help="Seconds to wait for each service's answer."),
):
    """Per service: whether it answers, the store's head, the relay's, projections', reactors' and consumers'
    checkpoints and lag, parked events, dead e-mails and webhooks. Exits 1 when a service is down or lags."""
    names = list(service_names or SERVICES)
    unknown = set(names) - set(SERVICES)
    if unknown:
        _fail(f"unknown services: {', '.join(sorted(unknown))}; known: {', '.join(SERVICES)}")
    report, problems = {}, []
    with _cluster(timeout=timeout) as rpc:
        for name in SERVICES:  # every service's head, for the others' consumer lag
            found, answered = _service_status(rpc, name, timeout)
            report[name] = {**found, "answers": answered}
        if "notification" in names and report.get("notification", {}).get("answers"):
            try:
                dead, with_emails = _dead_deliveries(rpc)
                report["notification"]["dead"] = {
                    "emails": sum(d["channel"] == "email" for d in dead) if with_emails else None,
                    "webhooks": sum(d["channel"] == "webhook" for d in dead)}
            except Exception as exc:
                report["notification"]["dead"] = {"error": _remote_error(exc)}
    for found in report.values():
        for source, consumer in found.get("consumers", {}).items():
            head = report.get(source, {}).get("store", {}).get("own_head")
            through = max(consumer["checkpoint"], consumer.get("recorded_through", 0))
            consumer["lag"] = None if head is None else max(0, head - through)
    report = {n: report[n] for n in names}
    for name, found in report.items():
        if not found["answers"]:
            problems.append(f"{name} does not answer ({found.get('error')})")
        standby = found.get("active") is False  # a standby replica neither relays nor reacts: its lag is by design
        lags = ([] if standby else [("relay", found.get("relay", {}))]) + [
            (f"{kind[:-1]} {n}", v) for kind in ("projections", "consumers") + (() if standby else ("reactors",))
            for n, v in found.get(kind, {}).items()]
        for what, value in lags:
            if (value.get("lag") or 0) > max_lag:
                problems.append(f"{name} {what} is {value['lag']} behind")
        if found.get("relay", {}).get("stuck"):
            problems.append(f"{name} relay is stuck")
    if as_json:
        _echo_json({"services": report, "problems": problems, "ok": not problems})
    else:
        _print_status(report, problems)
    if problems:
        raise typer.Exit(1)


def _print_status(report, problems):
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Chronicle status")
    for column in ("service", "what", "checkpoint", "lag", "note"):
        table.add_column(column, justify="right" if column in ("checkpoint", "lag") else "left")
    for name, found in report.items():
        state = "up" if found["answers"] else "DOWN" + (" (from its files)" if found.get("from_files") else "")
        if found["answers"] and found.get("active") is False:
            state += " (standby)"
        table.add_row(name, "store head", str(found.get("store", {}).get("head", "?")), "", state)
        if "relay" in found:
            relay = found["relay"]
            table.add_row("", "relay", str(relay["checkpoint"]), str(relay["lag"]), "STUCK" if relay["stuck"] else "")
        for kind in ("projections", "reactors", "consumers"):
            for n, v in found.get(kind, {}).items():
                lag, through = v.get("lag"), max(v["checkpoint"], v.get("recorded_through", 0))
                table.add_row("", f"{kind[:-1]} {n}", str(through), "?" if lag is None else str(lag), "")
        for key, count in found.get("parked", {}).items():
            table.add_row("", f"parked {key}", "", "", str(count))
        for channel, count in (found.get("dead") or {}).items():
            table.add_row("", f"dead {channel}", "", "", "?" if count is None else str(count))
    console = Console()
    console.print(table)
    for problem in problems:
        console.print(f"[red]! {problem}[/red]")
    if not problems:
        console.print("[green]all services answer and keep up[/green]")


def _owner_of(stream: str) -> str:
    """The service whose store holds ``stream`` (its category, or ``<service>~...`` for recorded facts)."""
    if "~" in stream:
        owner = stream.split("~", 1)[0]
        if owner in SERVICES:
            return owner
    category = stream.split("-", 1)[0]
    for service, categories in CATEGORIES.items():
        if category in categories:
            return service
    for service in SERVICES:
        if category in _internal_categories(service):
            return service
    _fail(f"no service owns stream {stream!r} (categories: "
          f"{', '.join(sorted(c for cats in CATEGORIES.values() for c in cats))})")


def _internal_categories(service: str) -> list:
    import importlib

    from .kit import Chronicle

    module = importlib.import_module(f"services.{service}.service")
    for value in vars(module).values():
        if isinstance(value, type) and getattr(value, "name", None) == service:
            for attr in vars(value).values():
                if isinstance(attr, Chronicle):
                    return list(attr.internal_categories)
    return []


def _redacted(value):
    """Event data as an operator may see it: secrets (webhook signing keys) never printed."""
    if isinstance(value, dict):
        return {k: ("***" if "secret" in k.lower() else _redacted(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def _print_event(event: dict, as_json: bool, console=None):
    event = {**event, "data": _redacted(event.get("data"))}
    if as_json:
        _echo_json(event)
        return
    meta = event.get("metadata") or {}
    console.print(f"[bold]{event['position']:>6}[/bold] {event['stream']}@{event['version']} "
                  f"[cyan]{event['type']}[/cyan] {event.get('recorded_at', '')}  "
                  f"[dim]correlation {meta.get('correlation_id')} actor {meta.get('actor')}[/dim]")
    console.print(f"       {json.dumps(event['data'], sort_keys=True, default=str)}", markup=False, highlight=False)


@app.command()
def events(
    stream: str = typer.Argument(..., help="A stream, e.g. project-<id> or timesheet-<employee>_<2026W48>."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of the pretty form."),
):
    """Print a stream's events, oldest first, from its owner's event store."""
    from rich.console import Console

    from .eventstore import open_store

    owner = _owner_of(stream)
    uri = cfg.eventstore_uri(owner)
    if uri.startswith("sqlite:///") and not os.path.exists(uri[len("sqlite:///"):].split("?", 1)[0]):
        _fail(f"no event store for {owner} at {uri}: set CHRONICLE_DATA_DIR (or EVENTSTORE_URI)")
    found = open_store(uri).read_stream(stream)
    if not found:
        _fail(f"stream {stream} has no events (in {owner}'s store)")
    console = Console(soft_wrap=True)
    for event in found:
        _print_event(event.to_dict(), as_json, console)


@app.command()
def tail(
    service: list[str] = typer.Option(None, "--service", "-s", help="Only this service's events (repeatable)."),
    event_type: list[str] = typer.Option(None, "--type", "-t", help="Only events of this type (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of the pretty form."),
    since: int = typer.Option(None, help="Start after this position of each service (default: their head now)."),
    count: int = typer.Option(None, help="Stop after this many events (default: follow until Ctrl-C)."),
    interval: float = typer.Option(0.5, help="Seconds between polls of each service's feed."),
):
    """Follow new events as the services append them (through each service's feed)."""
    from rich.console import Console

    names = list(service or SERVICES)
    unknown = set(names) - set(SERVICES)
    if unknown:
        _fail(f"unknown services: {', '.join(sorted(unknown))}; known: {', '.join(SERVICES)}")
    console, shown, positions, silent = Console(soft_wrap=True), 0, {}, set()
    signal.signal(signal.SIGINT, lambda *_: (_ for _ in ()).throw(typer.Exit(0)))
    with _cluster(timeout=5.0) as rpc:
        while True:
            for name in names:
                try:
                    if name not in positions:
                        positions[name] = since if since is not None else getattr(rpc, name).events_since(
                            position=0, limit=1)["head"]
                    page = getattr(rpc, name).events_since(position=positions[name], limit=500)
                except Exception as exc:
                    if name not in silent:
                        print(f"chronicle tail: {name} does not answer ({_remote_error(exc)}); still trying",
                              file=sys.stderr, flush=True)
                        silent.add(name)
                    continue
                silent.discard(name)
                for event in page["events"]:
                    if not event_type or event["type"] in event_type:
                        _print_event(event, as_json, console)
                        shown += 1
                        if count is not None and shown >= count:
                            return
                positions[name] = page["next_position"]
            sys.stdout.flush()
            time.sleep(interval)


export_app = typer.Typer(help="Exports from the running services, written to stdout.", no_args_is_help=True)
app.add_typer(export_app, name="export")


@export_app.command("hours")
def export_hours(
    from_date: str = typer.Option(None, "--from", help="First day, YYYY-MM-DD (required without --since)."),
    to_date: str = typer.Option(None, "--to", help="Last day, YYYY-MM-DD (required without --since)."),
    format: str = typer.Option("csv", "--format", help="csv or json."),
    status_: str = typer.Option("approved", "--status", help="approved (default), submitted, draft, ... or all."),
    since: str = typer.Option(None, "--since", help="A delta: the lines added, changed or corrected after this "
                              "cursor (0: from the start), each with an action (add, reverse, replace)."),
    page: int = typer.Option(1000, "--page", help="Lines (with --since: changes) read per RPC."),
):
    """Hours logged between two days (the timesheet service's export), as CSV or JSON on stdout. With --since, the
    delta since a cursor, read page by page; the next cursor goes to stderr (and into the JSON as "next")."""
    if format not in ("csv", "json"):
        _fail(f"--format must be csv or json, not {format!r}")
    if since is None and (from_date is None or to_date is None):
        _fail("--from and --to are required (or --since for a delta)")
    with _cluster(timeout=60.0) as rpc:
        try:
            if since is not None:
                result = _export_delta(rpc, since, page, status_, from_date, to_date)
            else:
                result = _export_pages(rpc, page, status_, from_date, to_date)
        except Exception as exc:
            _fail(_remote_error(exc) + _field_errors(exc))
    if since is not None:
        print(f"chronicle: next cursor {result['next']}", file=sys.stderr)
    if format == "csv":
        from services.timesheet.exports import to_csv

        sys.stdout.write(to_csv(result["rows"], result["columns"]))
    else:
        print(json.dumps(result, indent=2, sort_keys=True))


def _export_pages(rpc, page, status, from_date, to_date) -> dict:
    """The whole export of a range, read page by page (one unpaged reply is bounded by the service)."""
    rows, after = [], None
    while True:
        answer = rpc.timesheet.export_hours(from_date=from_date, to_date=to_date, status=status, limit=page,
                                            **({"after": after} if after else {}))
        rows += answer["rows"]
        after = answer["next"]
        if after is None:
            return {"columns": answer["columns"], "rows": rows, "count": len(rows), "next": None}


def _export_delta(rpc, since, page, status, from_date, to_date) -> dict:
    """Every delta page from ``since``: {columns, rows, count, since, next}."""
    rows, cursor, columns = [], since, None
    dates = {k: v for k, v in (("from_date", from_date), ("to_date", to_date)) if v}
    while True:
        answer = rpc.timesheet.export_hours(since=cursor, limit=page, status=status, **dates)
        rows += answer["rows"]
        columns, cursor = answer["columns"], answer["next"]
        if not answer["more"]:
            return {"columns": columns, "rows": rows, "count": len(rows), "since": since, "next": cursor}


def _field_errors(exc) -> str:
    errors = getattr(exc, "errors", None)
    if not errors:
        return ""
    return " (" + "; ".join(f"{field}: {' '.join(map(str, msgs)) if isinstance(msgs, list) else msgs}"
                            for field, msgs in errors.items()) + ")"


deliveries_app = typer.Typer(help="Dead e-mails and webhook deliveries: list and resend.", no_args_is_help=True)
app.add_typer(deliveries_app, name="deliveries")


@deliveries_app.command("dead")
def deliveries_dead(as_json: bool = typer.Option(False, "--json", help="JSON lines.")):
    """List the e-mails and webhook deliveries that gave up (the notification service's dead letters)."""
    with _cluster() as rpc:
        try:
            dead, with_emails = _dead_deliveries(rpc)
        except Exception as exc:
            _fail(_remote_error(exc))
    for item in dead:
        if as_json:
            _echo_json(_redacted(item))
        else:
            print(f"{item['channel']:<8} {item['id']}  {item.get('source_event_type') or item.get('event_type')}"
                  f"  attempts {item.get('attempts') if not isinstance(item.get('attempts'), list) else len(item['attempts'])}"
                  f"  {item.get('last_error') or ''}")
    if not as_json:
        print(f"{len(dead)} dead")
    if not with_emails:
        print("chronicle: this notification service cannot list dead e-mails (no dead_deliveries RPC): webhooks only",
              file=sys.stderr)


@deliveries_app.command("resend")
def deliveries_resend(
    ids: list[str] = typer.Argument(None, metavar="ID", help="Dead e-mails (notification ids) or webhook deliveries."),
    all_: bool = typer.Option(False, "--all", help="Every dead e-mail and webhook delivery."),
):
    """Send dead e-mails and webhook deliveries again, with a fresh retry budget."""
    from nameko.exceptions import MethodNotFound

    if bool(ids) == all_:
        _fail("name the deliveries to resend (IDs from `chronicle deliveries dead`), or pass --all")
    with _cluster(timeout=60.0) as rpc:
        if all_:
            try:
                out = rpc.notification.resend_dead(limit=1000)
                ids = []
                for item in out["resent"]:
                    print(f"{item['id']}: {item['channel']} resent")
                for item in out["skipped"]:
                    print(f"{item['id']}: {item['channel']} skipped ({item['code']})")
                print(f"{len(out['resent'])} resent, {len(out['skipped'])} skipped")
                return
            except MethodNotFound:  # an older notification service: one by one
                ids = [item["id"] for item in _dead_deliveries(rpc)[0]]
        failed = 0
        for item_id in ids:
            try:
                try:
                    out = rpc.notification.resend_delivery(delivery_id=item_id)
                except MethodNotFound:  # an older notification service: webhooks only
                    out = {**rpc.notification.redeliver(delivery_id=item_id), "channel": "webhook"}
                print(f"{item_id}: {out.get('channel', 'delivery')} resent ({out.get('status')})")
            except Exception as exc:
                failed += 1
                print(f"chronicle: {item_id}: {_remote_error(exc)}", file=sys.stderr)
        print(f"{len(ids) - failed} resent, {failed} failed")
    if failed:
        raise typer.Exit(1)


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
def errors(check: bool = typer.Option(False, "--check", help="Only check: exit 1 if docs/errors.md is stale.")):
    """Write docs/errors.md, every error code each service can return, from the source."""
    from . import error_codes

    if check:
        if error_codes.stale():
            print("docs/errors.md is stale (run `chronicle errors`)", file=sys.stderr)
            raise typer.Exit(1)
        print("docs/errors.md is up to date")
        return
    print(f"wrote {error_codes.write()}")


@app.command()
def version():
    """Print the installed version (from the package metadata)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        print(f"chronicle {installed('chronicle')}")
    except PackageNotFoundError:
        _fail("the chronicle package is not installed (pip install -e .)")


def main():
    """The ``chronicle`` command: every failure is one line on stderr and a non-zero exit, never a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        print(f"chronicle: {_remote_error(exc)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
