"""Signals other apps listen to: reactions to a lifecycle change need no edit in the owning app."""

from django.dispatch import Signal

# Sent by `core.services.audited_transition` inside the transaction that made the change, with
# `instance`, `field`, `from_state`, `to_state` and `actor`; `sender` is the model class.
lifecycle_changed = Signal()
