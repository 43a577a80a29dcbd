"""ringback: the shared layer of every function (domain, services, ports, adapters)."""

__version__ = "0.1.0"
