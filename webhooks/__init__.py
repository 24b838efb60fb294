"""Outgoing events: admins register URLs for a project's events; each event is delivered
signed, retried with backoff, and SSRF-guarded. Built on labeling, which does not know it:
``WebhooksConfig.ready()`` subscribes to what labeling and training announce."""
