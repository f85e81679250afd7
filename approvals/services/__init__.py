"""Writes for admission, one module per concern: `quota` (the ledger and the limits),
`admission` (opening a request), `chain` (its stages: opening, advancing, finishing, notices),
`deciding`, `delegation`, `escalation`, `reactions` (to the order's lifecycle) and `policies`."""
