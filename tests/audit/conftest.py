"""The audit tests reuse the verification helpers: the demo catalog and the CLI runner."""

from tests.verification.conftest import cli, demo  # noqa: F401 (fixtures)
