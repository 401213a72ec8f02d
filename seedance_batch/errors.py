"""Every error seedance-batch raises on purpose, under one root: :class:`SeedanceBatchError`.

The few a script usually catches are also in the top-level package; the whole tree, and the
:class:`Diagnostic` a :class:`ManifestError` carries, are here::

    from seedance_batch.errors import ApiError, Diagnostic, LockfileMismatchError
"""

from __future__ import annotations

from seedance_batch import _errors
from seedance_batch._errors import *  # noqa: F403  (the tree is defined once, in _errors)

__all__ = list(_errors.__all__)
