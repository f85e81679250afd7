"""Writes for billing, one module per concern: `metering` (usage rows and their rollups),
`rollups`, `budgets` (budgets and their alerts), `rates`, `statements` (closing a month),
`exports` (raw hours written in the background). Callers import the concern's module."""
