"""What admission and approvers decide, announced to the order's owner (`catalog.orders`):
approvals never moves an order itself. Sent inside the transaction that decided."""

from django.dispatch import Signal

# Admission of a submitted order: `order`, and `refusal` (the reason, or "" when it was admitted
# and its approval chain opens).
order_admission_decided = Signal()

# The chain ended: `order`, `approved` (bool), `actor` (None: a policy) and `message`.
approval_decided = Signal()
