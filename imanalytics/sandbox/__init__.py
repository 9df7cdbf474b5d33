"""Sandbox: a simulated IM workload with labelled incidents, served by a real Prometheus."""

from .server import PrometheusSandbox, SandboxError
from .tools import ToolMissing, find_tool

__all__ = ["PrometheusSandbox", "SandboxError", "ToolMissing", "find_tool"]
