"""The notification service: e-mail, in-app inbox, weekly reminders and signed webhooks."""
