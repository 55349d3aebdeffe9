"""Redrive: the scheduled reprocessor and the ad-hoc dead-letter API."""
