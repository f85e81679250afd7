"""What provisioning announces; the apps above react without provisioning calling them."""

from django.dispatch import Signal

# Sent with `deployment` inside the transaction in which a deployment that carries out a change
# order (`deployment.change_order`) succeeded or failed (its `state`, and `message` on failure).
change_deployment_finished = Signal()
