"""secateurs: from a PyTorch network to a pruned, packed model and the sparse accelerator that runs it."""

__version__ = "0.1.0"
