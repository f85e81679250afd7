"""What happened to an order's create deployment, announced to the order's owner
(`catalog.orders`): provisioning never moves an order itself. Sent inside the transaction that
recorded it."""

from django.dispatch import Signal

# The deployment was planned and its first steps queued: `order`.
deployment_started = Signal()

# Every step of the create deployment is done: `order_id`.
deployment_succeeded = Signal()

# The create deployment failed (what it created is being deleted), or it could not be planned
# at all (nothing was created): `order_id`, `message`.
deployment_failed = Signal()

# A day-2 action that adds capacity (resize, extend, desired count) is about to be applied:
# `user` (None: a policy), `resource`, `action`, `params`. Sent inside the action's transaction
# before anything changes; a receiver refuses it by raising ValidationError (the quota).
capacity_requested = Signal()

# A deployment that carries out a change order (`deployment.change_order`) succeeded or failed:
# `deployment` (its `state`, and `message` on failure).
change_deployment_finished = Signal()
