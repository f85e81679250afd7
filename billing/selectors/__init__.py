"""Reads for billing, one module per concern: `periods` (months and ranges), `access` (whose
costs a user reads, from usage rows or their rollups), `chargeback` (reports and drill-down),
`whatif` (re-pricing under a draft card), `exports` (summary CSV, raw hours), `budgets`,
`statements`. Callers import the concern's module."""
