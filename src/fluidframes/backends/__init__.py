"""Execution backends for the IFNet family (see :mod:`.torch_fast` and docs/ARCHITECTURE.md).

The names a user can choose are :data:`fluidframes.options.BACKENDS`.
"""
