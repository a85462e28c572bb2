"""Forecasts: top-down series (Prophet and baselines), the renewal model and the renewal window."""
