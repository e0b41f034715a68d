"""Webhook targets: every special-use address is refused in whatever form it is written, an unresolvable host
is a clear ValidationError, and a delivery connects to the address that was checked (no DNS rebinding)."""
import socket

import pytest

from services.notification import targets
from services.notification.service import NotificationService
from shared.errors import ValidationError
from shared.testing import rpc_proxy, running, service_config, wait_until
from tests.notification.helpers import FakeTimesheet, Receiver, new_id

SPECIAL_USE = [
    # loopback, in the odd numeric forms a resolver accepts
    "http://127.0.0.1/", "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/",
    "http://0x7f.1/", "http://localhost/", "http://127.0.0.1.:8080/",
    # private, CGNAT, link-local (cloud metadata), unspecified, multicast, broadcast, reserved, documentation
    "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/",
    "http://100.127.255.254/", "http://169.254.169.254/latest/meta-data", "http://0.0.0.0/", "http://0/",
    "http://224.0.0.1/", "http://239.255.255.250/", "http://255.255.255.255/", "http://240.0.0.1/",
    "http://192.0.2.1/", "http://198.18.0.1/",
    # IPv6: loopback, unspecified, link-local, unique local, multicast, documentation
    "http://[::1]/", "http://[::]/", "http://[fe80::1]/", "http://[fc00::1]/", "http://[fd12:3456::1]/",
    "http://[ff02::1]/", "http://[2001:db8::1]/",
    # IPv6 carrying a special-use IPv4 address: IPv4-mapped, NAT64, 6to4
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:100.64.0.1]/", "http://[64:ff9b::7f00:1]/", "http://[2002:7f00:1::]/",
]
PUBLIC = ["http://8.8.8.8/", "https://1.1.1.1:8443/x", "http://[2606:4700::1111]/", "http://[::ffff:8.8.8.8]/"]


@pytest.fixture
def dns(monkeypatch):
    """A resolver for the tests' own names; anything else goes to the real one."""
    names = {}
    real = targets.lookup
    monkeypatch.setattr(targets, "lookup", lambda host: names[host] if host in names else real(host))
    return names


@pytest.mark.parametrize("url", SPECIAL_USE)
def test_every_special_use_address_is_refused_in_every_form(url):
    with pytest.raises(targets.TargetRefused) as exc:
        targets.resolve(url, allow_private=False)
    assert exc.value.code == "webhook.private_address"
    assert targets.resolve(url, allow_private=True).address  # allowed when the deployment says so


@pytest.mark.parametrize("url", PUBLIC)
def test_public_addresses_are_allowed(url):
    assert targets.resolve(url, allow_private=False).address


def test_a_name_is_judged_by_every_address_it_resolves_to(dns):
    dns["public.test"] = ["93.184.216.34", "2606:2800:220:1::1"]
    dns["mixed.test"] = ["93.184.216.34", "10.0.0.5"]
    dns["mapped.test"] = ["::ffff:169.254.169.254"]
    assert targets.resolve("https://public.test/h", allow_private=False) == targets.Target("public.test",
                                                                                           "93.184.216.34")
    for name in ("mixed.test", "mapped.test"):
        with pytest.raises(targets.TargetRefused) as exc:
            targets.resolve(f"https://{name}/h", allow_private=False)
        assert exc.value.code == "webhook.private_address"


def test_an_unresolvable_host_is_refused_with_its_own_code(dns):
    for allow_private in (False, True):
        with pytest.raises(targets.TargetRefused) as exc:
            targets.resolve("https://no-such-host.invalid/h", allow_private=allow_private)
        assert exc.value.code == "webhook.unresolvable_host"


def test_register_webhook_refuses_special_use_and_unresolvable_hosts(isolated_amqp_uri, tmp_path):
    config = service_config(isolated_amqp_uri, tmp_path, REMINDER_CHECK_SECONDS=3600)  # private refused
    with running(config, NotificationService), rpc_proxy(config) as rpc:
        for url in ("http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://100.64.0.1/",
                    "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/", "http://[fe80::1]/"):
            with pytest.raises(ValidationError) as exc:
                rpc.notification.register_webhook(url=url, event_types=["*"])
            assert exc.value.code == "webhook.private_address" and "url" in exc.value.errors, url
        with pytest.raises(ValidationError) as exc:
            rpc.notification.register_webhook(url="https://no-such-host.invalid/h", event_types=["*"])
        assert exc.value.code == "webhook.unresolvable_host" and "url" in exc.value.errors
        assert "does not resolve" in exc.value.errors["url"][0]
        assert rpc.notification.list_webhooks() == []


def test_a_delivery_connects_to_the_address_that_was_checked(isolated_amqp_uri, tmp_path, monkeypatch):
    """A rebinding attacker's DNS: a public address for the registration and for the delivery's check, the
    loopback receiver from then on. The delivery must go to the public address it checked (unreachable here),
    never to the receiver; the next attempt sees the loopback answer and is refused."""
    receiver = Receiver().start()
    secret = "rebinding-secret-0123456789"
    path = receiver.endpoint(secret)
    answers = {"calls": 0}
    real_getaddrinfo = socket.getaddrinfo

    def rebinding_getaddrinfo(host, *args, **kwargs):
        if host != "rebind.test":
            return real_getaddrinfo(host, *args, **kwargs)
        answers["calls"] += 1
        address = "8.8.8.8" if answers["calls"] <= 2 else "127.0.0.1"  # registration, the delivery's check
        return real_getaddrinfo(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_getaddrinfo)
    # Private targets refused (WEBHOOK_ALLOW_PRIVATE unset); a short timeout for the unreachable public address.
    config = service_config(isolated_amqp_uri, tmp_path, DELIVERY_POLL_INTERVAL=0.1, WEBHOOK_TIMEOUT=2,
                            WEBHOOK_BACKOFF_SECONDS="0.2", RETRY_JITTER=0.1, REMINDER_CHECK_SECONDS=3600)
    try:
        with running(config, FakeTimesheet, NotificationService), rpc_proxy(config) as rpc:
            hook = rpc.notification.register_webhook(url=f"http://rebind.test:{receiver.port}{path}",
                                                     event_types=["TimeLogged"], secret=secret)
            employee = new_id()
            rpc.timesheet.emit(stream=f"timesheet-{employee}_2026W48", type="TimeLogged", data={
                "entry_id": new_id(), "employee_id": employee, "week": "2026-W48", "project_id": new_id(),
                "task_id": None, "date": "2026-11-24", "hours": 1, "billable": True, "description": ""})
            (delivery,) = wait_until(
                lambda: [d for d in rpc.notification.deliveries(webhook_id=hook["id"]) if d["status"] == "dead"],
                timeout=30, message="the delivery refused once the name rebound")
    finally:
        receiver.stop()
    assert receiver.requests(path) == []  # never reached the loopback receiver
    first, last = delivery["attempts"][0], delivery["attempts"][-1]
    assert first["outcome"] == "retry" and "8.8.8.8" in first["error"]  # it went to the checked address
    assert last["outcome"] == "dead" and last["error"].startswith("refused") and "127.0.0.1" in last["error"]


def test_https_keeps_sni_and_certificate_checks_on_the_host_name(tmp_path):
    """The pinned session connects to the checked address but verifies the certificate against the name."""
    import http.server
    import ssl
    import subprocess
    import threading

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test"],
                   check=True, capture_output=True, timeout=60)
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    names = []
    context.sni_callback = lambda sock, name, ctx: names.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with targets.pinned_session(targets.Target("hooks.test", "127.0.0.1")) as session:
            response = session.post(f"https://hooks.test:{port}/h", data=b"{}", verify=str(cert), timeout=10)
        assert response.status_code == 204 and names == ["hooks.test"]
        assert seen == [f"hooks.test:{port}"]
        with targets.pinned_session(targets.Target("other.test", "127.0.0.1")) as session:
            with pytest.raises(Exception) as exc:  # the certificate does not name other.test
                session.post(f"https://other.test:{port}/h", data=b"{}", verify=str(cert), timeout=10)
        assert "other.test" in str(exc.value)
    finally:
        server.shutdown()
