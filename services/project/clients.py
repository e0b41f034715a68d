"""The Client aggregate (stream ``client-<client_id>``): who a project is for, in which currency it is billed and at
which default rate. Commands check the rules and record events; ``on_<Event>`` only mutates. Pure: no I/O, no clock.

A client created with the id of a legacy client (a free-text ``customer`` of projects created before clients,
``shared.money.legacy_client_id``) takes those projects over: they already name that id."""
from __future__ import annotations

from shared.aggregate import Aggregate
from shared.errors import Conflict, NotFound
from shared.money import RateHistory

CHANGEABLE = ("name", "org_number", "currency", "contact_email")


class Client(Aggregate):
    category = "client"

    def __init__(self, id):
        super().__init__(id)
        self.name = self.org_number = self.contact_email = None
        self.currency = "NOK"
        self.rates = RateHistory()

    # -- commands ---------------------------------------------------------------------------
    def create(self, *, name, currency="NOK", org_number=None, default_rate=None, contact_email=None):
        if self.exists:
            raise Conflict(f"client {self.id} already exists", code="client.exists")
        self.record("ClientCreated", client_id=self.id, name=name, org_number=org_number, currency=currency,
                    default_rate=default_rate, contact_email=contact_email)

    def update(self, changes: dict):
        """``changes``: field -> new value; records only what really changes."""
        self._require_existing()
        current = self._fields()
        changed = {f: v for f, v in changes.items() if f in CHANGEABLE and current[f] != v}
        if changed:
            self.record("ClientUpdated", client_id=self.id, changes=changed,
                        previous={f: current[f] for f in changed})

    def set_rate(self, rate, effective_from: str):
        """The client's default billing rate from ``effective_from`` on (None: no default from then)."""
        self._require_existing()
        if _same(self.rates, rate, effective_from):
            return  # the same rate from the same date again: nothing new
        self.record("ClientRateSet", client_id=self.id, rate=rate, effective_from=effective_from)

    # -- queries ----------------------------------------------------------------------------
    def _fields(self) -> dict:
        return {"name": self.name, "org_number": self.org_number, "currency": self.currency,
                "contact_email": self.contact_email}

    def _require_existing(self):
        if not self.exists:
            raise NotFound(f"client {self.id} not found", code="client.not_found")

    def to_dict(self) -> dict:
        """``default_rate``: the rate from the start (as created); ``rates``: every rate in force, by date."""
        timeline = self.rates.timeline()
        undated = [change["rate"] for change in timeline if change["effective_from"] is None]
        return {"id": self.id, **self._fields(), "default_rate": undated[0] if undated else None, "rates": timeline,
                "version": self.version}

    # -- state changes ----------------------------------------------------------------------
    def on_ClientCreated(self, d):
        self.name, self.org_number, self.currency = d["name"], d["org_number"], d["currency"]
        self.contact_email = d["contact_email"]
        if d["default_rate"] is not None:
            self.rates.set(d["default_rate"], None)

    def on_ClientUpdated(self, d):
        for field, value in d["changes"].items():
            setattr(self, field, value)

    def on_ClientRateSet(self, d):
        self.rates.set(d["rate"], d["effective_from"])


def _same(rates: RateHistory, rate, effective_from) -> bool:
    """Whether ``rate`` is already the rate set from ``effective_from``."""
    return any(c["effective_from"] == effective_from and c["rate"] == rate for c in rates.timeline())
