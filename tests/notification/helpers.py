"""Real servers for the notification tests: an aiosmtpd SMTP server (its own process, writing a
maildir) and an HTTP webhook receiver (an eventlet WSGI server) that verifies signatures."""
from __future__ import annotations

import hashlib
import hmac
import json
import mailbox
import os
import socket
import subprocess
import sys
import time
import uuid

import eventlet
import eventlet.wsgi

from shared.testing import fake_source, wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    """``python -m aiosmtpd`` with the Mailbox handler: every accepted message lands in a maildir."""

    def __init__(self, directory, port=None, smtps=None):
        self.directory = str(directory)
        self.port = port or free_port()
        self.smtps = smtps  # (certificate file, key file): implicit TLS (SMTPS) from the first byte
        self.process = None

    def start(self):
        tls = ["--smtpscert", str(self.smtps[0]), "--smtpskey", str(self.smtps[1])] if self.smtps else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}", *tls,
             "-c", "aiosmtpd.handlers.Mailbox", self.directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(listening, timeout=15, message="aiosmtpd listening")
        return self

    def stop(self):
        if self.process:
            self.process.terminate()
            self.process.wait(10)

    def messages(self):
        if not os.path.isdir(os.path.join(self.directory, "new")):
            return []
        return list(mailbox.Maildir(self.directory, create=False))

    def messages_to(self, address):
        return [m for m in self.messages() if m["X-RcptTo"] == address or m["To"] == address]


def verify(secret: str, headers: dict, body: bytes, tolerance=300) -> bool:
    """What a receiver does (the same as the example in docs/services/notification.md)."""
    timestamp = headers.get("X-Chronicle-Timestamp", "")
    signature = headers.get("X-Chronicle-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def self_signed_certificate(directory, name="127.0.0.1"):
    """A certificate and key for ``name`` (an IP address here), made with the openssl command."""
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", f"/CN={name}", "-addext", f"subjectAltName=IP:{name}"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


class Receiver:
    """An HTTP server on 127.0.0.1. Each path is one endpoint with its secret and a script of status
    codes to answer in turn (200 once the script is used up)."""

    def __init__(self, host="127.0.0.1", port=None):
        self.host = host
        self.port = port or free_port()
        self.endpoints = {}  # path -> {"secret": str, "script": [codes], "requests": [...]}
        self.sock = self.server = None

    def url(self, path):
        return f"http://{self.host}:{self.port}{path}"

    def endpoint(self, secret, script=()):
        path = f"/hook/{uuid.uuid4().hex[:8]}"
        self.endpoints[path] = {"secret": secret, "script": list(script), "requests": []}
        return path

    def requests(self, path):
        return self.endpoints[path]["requests"]

    def start(self):
        self.sock = eventlet.listen((self.host, self.port))
        self.server = eventlet.spawn(eventlet.wsgi.server, self.sock, self.app, log_output=False, log=_Quiet())
        return self

    def stop(self):
        self.server.kill()
        self.sock.close()

    def app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        endpoint = self.endpoints.get(environ["PATH_INFO"])
        if endpoint is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such endpoint"]
        status = endpoint["script"].pop(0) if endpoint["script"] else 200
        endpoint["requests"].append({
            "headers": headers, "body": body, "json": json.loads(body), "status": status,
            "signed": verify(endpoint["secret"], headers, body),
        })
        start_response(f"{status} Scripted", [("Content-Type", "text/plain")])
        return [b"scripted"]


class _Quiet:
    def write(self, *args):
        pass


FakeProject = fake_source("project")
FakeTimesheet = fake_source("timesheet", ["timesheet", "timesheetlock"])
FakeResource = fake_source("resource")


def new_id() -> str:
    return str(uuid.uuid4())
