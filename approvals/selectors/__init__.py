"""Reads for admission, one module per concern: `deciders` (who sees and decides which
request, delegation, signed links), `policies` (which policy matches an order and what it asks),
`quota` (demand, limits and the ledger's sums) and `admission` (whether admission would refuse
an order: quotas and refusing budgets)."""
