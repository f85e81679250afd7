"""Reads for the catalog and orders, one module per concern: `menu` (what a person may order,
at which accounts and prices), `ordering` (an order being prepared: its form, plan, quote and
estimate) and `orders` (orders a person may read). Entitlements, permissions and order checks
apply here. Callers import the module of their concern."""
