"""Measurement: certification, completion-rate, compliance and funnel reports; the dashboard."""
