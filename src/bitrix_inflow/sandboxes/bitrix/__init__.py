"""A faithful 1C-Bitrix REST sandbox shop (sale, catalog, im; tasks and crm in the Bitrix24 profile).

Start it in-process with :func:`running_bitrix_sandbox` or from the shell with
``bitrix-inflow sandbox bitrix``. See docs/sandbox-bitrix.md.
"""

from bitrix_inflow.sandboxes.bitrix.app import BitrixSandbox
from bitrix_inflow.sandboxes.bitrix.config import SandboxConfig
from bitrix_inflow.sandboxes.bitrix.control_client import ControlClient, ControlError
from bitrix_inflow.sandboxes.bitrix.server import RunningSandbox, running_bitrix_sandbox

__all__ = [
    "BitrixSandbox",
    "ControlClient",
    "ControlError",
    "RunningSandbox",
    "SandboxConfig",
    "running_bitrix_sandbox",
]
