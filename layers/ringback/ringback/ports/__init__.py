"""Ports: the Protocols services depend on. Adapters implement them; tests pass fakes.

One module a concern (``ports.clock``, ``ports.webitel``, ...) so features grow side by side;
import from the concern's module.
"""
