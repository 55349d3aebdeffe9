"""Where the checkout's folders are (without importing the CDK)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
