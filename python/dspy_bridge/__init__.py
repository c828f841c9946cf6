"""dspy-bridge, Python side: the worker server, values and errors shared with the TypeScript host."""

__version__ = "0.1.0"
