"""RPC argument schemas: every RPC validates its keyword arguments here (unknown fields rejected).
Booleans are the kit's strict ``Boolean``: JSON true/false only, never "yes", 1 or "false"."""
import ipaddress
import re
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate, validates

from shared.validation import Boolean, CommandSchema, Id, IsoWeek, Position, StrictInteger, Text

from .domain import EVENT_TYPE_PATTERN, KINDS

# A DNS name: dot-separated labels of letters, digits, "-" and "_" (IDNs are checked in their ASCII form).
HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    labels = ascii_host[:-1].split(".") if ascii_host.endswith(".") else ascii_host.split(".")
    return len(ascii_host) <= 253 and all(HOST_LABEL.match(label) for label in labels)


class Query(Schema):
    min_position = Position()


class InboxSchema(Query):
    user_id = Id(required=True)
    unread_only = Boolean(load_default=False)
    limit = StrictInteger(load_default=50, validate=validate.Range(min=1, max=500))


class MarkReadSchema(CommandSchema):
    user_id = Id(required=True)
    notification_id = Id(required=True)


class NotificationSchema(Query):
    notification_id = Id(required=True)


class NotificationsForSchema(Query):
    source_event_id = Id(required=True)


class KindChannelsSchema(Schema):
    email = Boolean()
    inapp = Boolean()


class SetPreferencesSchema(CommandSchema):
    user_id = Id(required=True)
    email = Boolean(load_default=True)
    inapp = Boolean(load_default=True)
    muted_kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)), load_default=list)
    # per-kind overrides of the channels: {"approval_overdue": {"email": false}}; a channel left out follows
    # email/inapp above
    kinds = fields.Dict(keys=fields.String(validate=validate.OneOf(KINDS)), values=fields.Nested(KindChannelsSchema),
                        load_default=dict, validate=validate.Length(max=len(KINDS)))


class GetPreferencesSchema(Query):
    user_id = Id(required=True)


class RegisterWebhookSchema(CommandSchema):
    url = Text(required=True, validate=validate.Length(max=2000))
    event_types = fields.List(
        fields.String(validate=validate.Regexp(EVENT_TYPE_PATTERN, error="Must be *, an event type or a prefix*.")),
        required=True, validate=validate.Length(min=1, max=100),
    )
    secret = Text(load_default=None, allow_none=True, validate=validate.Length(min=16, max=200))
    description = Text(multiline=True, load_default="", validate=validate.Length(max=500))

    @validates("url")
    def check_url(self, value, **kwargs):
        # A URL that can never be sent to is refused here, not retried for hours at send time.
        try:
            parts = urlsplit(value)
            port = parts.port  # raises on a port that is not a number or out of range
        except ValueError as exc:
            raise ValidationError(f"Not a valid URL: {exc}.") from None
        if parts.scheme not in ("http", "https"):
            raise ValidationError("Must be an http or https URL.")
        if not parts.hostname:
            raise ValidationError("Must name a host.")
        if not valid_host(parts.hostname):
            raise ValidationError("The host is not a valid host name or IP address.")
        if port == 0:
            raise ValidationError("The port must be from 1 to 65535.")


class WebhookIdSchema(CommandSchema):
    webhook_id = Id(required=True)


class ListWebhooksSchema(Query):
    pass


class DeliveriesSchema(Query):
    webhook_id = Id(required=True)
    limit = StrictInteger(load_default=50, validate=validate.Range(min=1, max=500))


class RedeliverSchema(CommandSchema):
    delivery_id = Id(required=True)


class ResendEmailSchema(CommandSchema):
    notification_id = Id(required=True)


class DeadDeliveriesSchema(Query):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class ResendDeadSchema(CommandSchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class SendRemindersSchema(CommandSchema):
    week = IsoWeek(required=True)


class PersonSchema(Query):
    person_id = Id(required=True)


class ReminderRoundsSchema(Query):
    week = IsoWeek(required=True)


class FollowUpChecksSchema(Query):
    week = IsoWeek(required=True)
