"""Billing's tests: metering, pricing, budgets and their alerts, statements, chargeback."""
