"""Writes for provisioning, one module per concern: `planning` (an order's resources as a graph
of steps), `saga` (deployments started, run by workers chunk by chunk, compensated; the step
lease), `bindings` (what a step asks its provider for), `day2` (actions on provisioned
resources), `accounts` (cloud accounts and their cached options), `reconciler` (drift, missing
and unknown objects, stuck resources) and `transitions` (the audited lifecycle writes they
share). Callers import the module of their concern: `from provisioning.services import day2`."""
