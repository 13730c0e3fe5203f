"""gsotriage: name the root cause of GSO/GRO kernel crashes from vmcores and logs."""

__version__ = "0.1.0"
