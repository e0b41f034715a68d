"""The notification service's own events: one marshmallow schema per type and schema_version."""
from marshmallow import Schema, fields

from shared.events import EventRegistry
from shared.validation import Hours

events = EventRegistry()

Str = fields.String
NullableStr = lambda: fields.String(required=True, allow_none=True)  # noqa: E731


@events.register("NotificationCreated", version=1)
class NotificationCreatedV1(Schema):
    notification_id = Str(required=True)
    recipient_id = Str(required=True)
    kind = Str(required=True)
    title = Str(required=True)
    body = Str(required=True)
    source_event_id = Str(required=True)
    source_event_type = Str(required=True)
    facts = fields.Dict(required=True)
    send_email = fields.Boolean(required=True)  # e-mail wanted (the address may be learnt later)
    email = NullableStr()  # the address known when the notification was created
    inapp = fields.Boolean(required=True)
    created_at = Str(required=True)


@events.register("NotificationRead", version=1)
class NotificationReadV1(Schema):
    notification_id = Str(required=True)
    user_id = Str(required=True)
    read_at = Str(required=True)


@events.register("EmailAttempted", version=1)
class EmailAttemptedV1(Schema):
    notification_id = Str(required=True)
    attempt = fields.Integer(required=True)
    attempted_at = Str(required=True)
    address = NullableStr()
    error = NullableStr()
    outcome = Str(required=True)  # sent | retry | dead
    next_attempt_at = NullableStr()


@events.register("EmailResent", version=1)
class EmailResentV1(Schema):
    notification_id = Str(required=True)
    requested_at = Str(required=True)


@events.register("PreferencesSet", version=1)
class PreferencesSetV1(Schema):
    user_id = Str(required=True)
    email = fields.Boolean(required=True)
    inapp = fields.Boolean(required=True)
    muted_kinds = fields.List(Str(), required=True)


class KindChannels(Schema):
    email = fields.Boolean()
    inapp = fields.Boolean()


@events.register("PreferencesSet", version=2)
class PreferencesSetV2(PreferencesSetV1):
    # per-kind overrides of the channels: {kind: {email?, inapp?}}; a channel left out follows email/inapp
    kinds = fields.Dict(keys=Str(), values=fields.Nested(KindChannels), required=True)


@events.upcaster("PreferencesSet", from_version=1)
def preferences_set_v1_to_v2(data):
    return {**data, "kinds": {}}  # before per-kind preferences: every kind on the person's channels


@events.register("RemindersSent", version=1)
class RemindersSentV1(Schema):
    week = Str(required=True)
    round = fields.Integer(required=True)
    trigger = Str(required=True)  # timer | rpc
    resources = fields.List(fields.Dict(), required=True)  # [{resource_id, logged_hours, expected_hours}]
    sent_at = Str(required=True)


@events.register("WebhookRegistered", version=1, internal=True)
class WebhookRegisteredV1(Schema):
    webhook_id = Str(required=True)
    url = Str(required=True)
    event_types = fields.List(Str(), required=True)
    secret = Str(required=True)
    description = Str(required=True)
    registered_at = Str(required=True)


@events.register("WebhookRemoved", version=1, internal=True)
class WebhookRemovedV1(Schema):
    webhook_id = Str(required=True)
    removed_at = Str(required=True)


@events.register("DeliveryScheduled", version=1)
class DeliveryScheduledV1(Schema):
    delivery_id = Str(required=True)
    webhook_id = Str(required=True)
    event_id = Str(required=True)
    source_event_type = Str(required=True)
    stream = Str(required=True)  # where the event is recorded in our store
    stream_version = fields.Integer(required=True)
    scheduled_at = Str(required=True)


@events.register("DeliveryAttempted", version=1)
class DeliveryAttemptedV1(Schema):
    delivery_id = Str(required=True)
    attempt = fields.Integer(required=True)
    attempted_at = Str(required=True)
    status_code = fields.Integer(required=True, allow_none=True)
    error = NullableStr()
    outcome = Str(required=True)  # delivered | retry | dead
    next_attempt_at = NullableStr()


@events.register("DeliveryAbandoned", version=1)
class DeliveryAbandonedV1(Schema):
    delivery_id = Str(required=True)
    reason = Str(required=True)
    abandoned_at = Str(required=True)


@events.register("DeliveryRedelivered", version=1)
class DeliveryRedeliveredV1(Schema):
    delivery_id = Str(required=True)
    requested_at = Str(required=True)


# -- follow-up (issue 17) -----------------------------------------------------------------------------
class WaitingManager(Schema):
    manager_id = Str(required=True)
    project_ids = fields.List(Str(), required=True)  # their projects in the week not approved yet


@events.register("ApprovalsOverdue", version=1)
class ApprovalsOverdueV1(Schema):
    employee_id = Str(required=True)
    week = Str(required=True)
    submission_id = Str(required=True)  # the TimesheetSubmitted event's id
    submitted_on = Str(required=True)  # the UTC day the timesheet service recorded the submission
    working_days = fields.Integer(required=True)  # working days (Mon-Fri) waited by detected_on
    managers = fields.List(fields.Nested(WaitingManager), required=True)  # those told now
    detected_on = Str(required=True)


class MissedWeek(Schema):
    week = Str(required=True)
    logged_hours = Hours(required=True, allow_zero=True)
    expected_hours = Hours(required=True, allow_zero=True)


class MissedRun(Schema):
    employee_id = Str(required=True)
    weeks = fields.List(fields.Nested(MissedWeek), required=True)  # the week before, then the week checked
    manager_ids = fields.List(Str(), required=True)  # who is told (see docs: the employee's managers)
    run_from = Str(required=True)  # the first week of the run
    new_run = fields.Boolean(required=True)  # true: the run starts here and is told; false: told already


@events.register("HoursMissedInARow", version=1)
class HoursMissedInARowV1(Schema):
    week = Str(required=True)
    previous_week = Str(required=True)
    employees = fields.List(fields.Nested(MissedRun), required=True)
    checked_at = Str(required=True)
