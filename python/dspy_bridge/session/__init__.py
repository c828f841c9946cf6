"""Sessions and their variables, from Python: ``SessionContext`` (async), ``SyncSessionContext``
(blocking), the client cache ``VariableCache`` and the ``VariableUpdate`` a watch yields.

See ``docs/python-sessions.md``.
"""

from ._cache import EVICTION_POLICIES, CacheStats, VariableCache
from ._configuration_space import ConfigurationSpace
from ._context import DEFAULT_CACHE_SIZE, DEFAULT_CACHE_TTL, SessionContext
from ._sync import SyncSessionContext, SyncVariableWatch
from ._update import VariableUpdate
from ._watch import VariableWatch

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "DEFAULT_CACHE_TTL",
    "EVICTION_POLICIES",
    "CacheStats",
    "ConfigurationSpace",
    "SessionContext",
    "SyncSessionContext",
    "SyncVariableWatch",
    "VariableCache",
    "VariableUpdate",
    "VariableWatch",
]
