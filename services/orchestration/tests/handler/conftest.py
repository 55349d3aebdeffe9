"""Fixtures of the handler tests live in moto_cloud (importable by the tests too)."""

from moto_cloud import cloud, cloud_env, database

__all__ = ["cloud", "cloud_env", "database"]
