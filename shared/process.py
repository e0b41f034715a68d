"""A command that spans two aggregates: a small process manager with its own command ids and recovery.

``Transfer`` moves something out of one aggregate and into another (an entry between two weeks): the step out,
then the step in, each appended by ``ChronicleHandle.execute`` on its own aggregate. There is no transaction
across streams, so the process owns what happens in between:
- the step in is refused (its aggregate changed since the caller checked): the step out is undone, and the error
  is raised; the command was refused, so a retry decides again, as the next attempt;
- the process stopped after the step out: a retry with the same command id completes the move.

Command ids per step, derived here and nowhere else (the same strings as before the kit owned them, so a move
recorded then is still recovered): attempt 1 uses the command's own id for both steps (each on its own
aggregate), attempt n > 1 uses ``<id>/<n>``, and the undo of an attempt ``<attempt's id>/back``. Without a
command id no step carries one, and nothing can be recovered.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import Conflict


@dataclass
class Step:
    """One aggregate command: ``decide(aggregate, *read)`` on ``aggregate_cls(aggregate_id)`` (``reads`` as in
    ``ChronicleHandle.execute``)."""

    aggregate_cls: type
    aggregate_id: str
    decide: object
    reads: tuple = ()


@dataclass
class HalfDone:
    """Only the step out of an attempt was written: ``outcome`` is its first outcome on ``aggregate_id``."""

    aggregate_id: str
    outcome: object


class Transfer:
    def __init__(self, chronicle, command_id: str | None):
        self.chronicle, self.command_id, self.attempt = chronicle, command_id, 1

    @property
    def step_id(self) -> str | None:
        """This attempt's command id for the step out and the step in (and for a step that stays in place)."""
        if not self.command_id:
            return None
        return self.command_id if self.attempt == 1 else f"{self.command_id}/{self.attempt}"

    @property
    def undo_id(self) -> str | None:
        return f"{self.step_id}/back" if self.command_id else None

    def recover(self, aggregate_cls, aggregate_ids, is_step_out, is_mine):
        """Where a retried command stands, over every aggregate the thing has lived in:
        - the first ``Outcome`` of its last step (a step in, or a step that stayed in place) if it completed;
        - ``HalfDone`` if only an attempt's step out was written (``complete`` finishes it);
        - None if nothing was written by the attempts not undone: decide as ``self.attempt`` (moved past them).
        ``is_step_out(outcome)`` tells a step out; an outcome ``is_mine`` refuses is another command's
        (``command_id.reused``)."""
        if not self.command_id:
            return None
        while True:
            done = {}
            for aggregate_id in aggregate_ids:
                outcome = self.chronicle.replayed(aggregate_cls, aggregate_id, self.step_id)
                if outcome is not None:
                    if not is_mine(outcome):
                        raise reused(self.command_id)
                    done[aggregate_id] = outcome
            if not done:
                return None
            for outcome in done.values():
                if not is_step_out(outcome):
                    return outcome
            [(aggregate_id, outcome)] = done.items()
            if self.chronicle.replayed(aggregate_cls, aggregate_id, self.undo_id) is None:
                return HalfDone(aggregate_id, outcome)
            self.attempt += 1  # that attempt was refused and undone: the retry decides again

    def run(self, out: Step, into: Step, undo: Step):
        """The step out, then ``complete``. Check first that both aggregates would accept: the step out is
        written before the step in is decided."""
        self._execute(out, self.step_id)
        return self.complete(into, undo)

    def complete(self, into: Step, undo: Step):
        """The step in; if it is refused, ``undo`` (the thing put back where it was) and the refusal raised."""
        try:
            return self._execute(into, self.step_id)
        except Exception:
            self._execute(undo, self.undo_id)
            raise

    def _execute(self, step: Step, command_id):
        return self.chronicle.execute(step.aggregate_cls, step.aggregate_id, step.decide, command_id=command_id,
                                      reads=step.reads)


def reused(command_id) -> Conflict:
    return Conflict(f"command_id {command_id!r} was already used for another command", code="command_id.reused")
