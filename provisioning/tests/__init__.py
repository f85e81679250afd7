"""Provisioning's tests: the saga, day-2 actions, cloud accounts, the provider adapters."""
