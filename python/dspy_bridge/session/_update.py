"""``VariableUpdate``: one delivered change (or snapshot value) of a watched variable."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["VariableUpdate"]


@dataclass(frozen=True)
class VariableUpdate:
    """What ``watch_variable`` / ``watch_variables`` yield.

    DSPex's fields (``variable_id``, ``value``, ``old_value``, ``metadata``, ``timestamp``,
    ``source``) plus:

    * ``name`` -- the variable's name (``variable_id`` is its host id, ``var_<name>_<rev>``);
    * ``version`` -- the variable's version after this change;
    * ``revision`` -- the store revision of the commit. Every change of one atomic
      multi-variable update carries the same revision; revisions only grow along a watch;
    * ``kind`` -- ``"put"`` or ``"delete"`` (a deleted variable's ``value`` is None);
    * ``initial`` -- True for a snapshot value rather than a change: the current values sent
      first with ``include_initial=True``, and the values re-read after the host reported
      that the watch's resume point was compacted (so no change is ever skipped silently).

    With ``throttle_ms`` / ``debounce_ms`` several changes of one variable may be folded
    into one update: ``value``, ``version``, ``revision``, ``metadata``, ``timestamp`` and
    ``source`` are those of the newest change, ``old_value`` that of the oldest (the value
    before the burst), and ``coalesced`` counts how many changes were folded (1 = none).
    """

    variable_id: str
    name: str
    value: Any
    old_value: Any
    metadata: dict[str, str]
    timestamp: datetime
    source: str
    version: int
    revision: int
    kind: str = "put"
    type: str = ""
    initial: bool = False
    coalesced: int = field(default=1, compare=False)
