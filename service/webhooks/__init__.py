"""Signed webhooks: subscriptions, an outbox relayed from the audit chain, an expiry scanner
and a delivery worker (Standard Webhooks signatures)."""
