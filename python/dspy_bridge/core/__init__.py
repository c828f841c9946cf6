"""The worker side of the bridge: the command registry and the server that runs it."""

from . import _lm_errors  # imported for its effect: registers the LM-error translator at the boundary
from .registry import Command, CommandContext, CommandRegistry, Parameter, command, default_registry

__all__ = ["Command", "CommandContext", "CommandRegistry", "Parameter", "command", "default_registry"]
