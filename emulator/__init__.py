"""Local AWS Lambda execution environment emulator.

Runs real extension processes from ``<opt>/extensions`` and the real AWS runtime interface
client (awslambdaric) against local Runtime, Extensions, Telemetry and Logs APIs. Use the
blocking :class:`LambdaEnvironment` from Python or ``python -m emulator run`` from a shell.
"""

from emulator.environment import LambdaEnvironment
from emulator.model import ExtensionOutcome, InvokeResult

__all__ = ["ExtensionOutcome", "InvokeResult", "LambdaEnvironment"]
