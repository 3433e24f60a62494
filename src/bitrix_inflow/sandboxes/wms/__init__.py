"""The Inflow WMS sandbox: a faithful stand-in for the warehouse, implementing contracts/inflow-v1.

It shares no code with the client that talks to it; both are written from the contract.
"""

from bitrix_inflow.sandboxes.wms.faults import FaultSettings
from bitrix_inflow.sandboxes.wms.server import RunningSandbox, run_in_process, serve
from bitrix_inflow.sandboxes.wms.service import SandboxSettings

__all__ = ["FaultSettings", "RunningSandbox", "SandboxSettings", "run_in_process", "serve"]
