"""Garbage collection that does not freeze the UI.

With thousands of instances, every refresh creates about a million short-lived objects, and
CPython's automatic full (generation 2) collection then walks the whole heap while holding the
interpreter: pauses of 100–400 ms were measured (benchmarks/vms_scale.py with a gc callback),
and a key press that arrives meanwhile waits. Young generations still collect automatically
(cheap, a few ms); the full collection runs only when the person is idle, or when the heap has
grown a lot since the last one (so memory stays bounded even if they never stop typing).
Objects that exist once start-up is over (modules, classes, widgets) are frozen out of the scans.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

YOUNG_THRESHOLDS = (2_000, 10)  # gen0 allocations; gen0 collections per gen1 collection
IDLE_SECONDS = 3.0  # no key or mouse input for this long counts as idle
FULL_EVERY = 30.0  # at most one idle full collection this often
FORCE_AFTER = 180.0  # a full collection anyway after this long, idle or not
FREEZE_AFTER = 15.0  # by then the panes have imported their client libraries


class GcPolicy:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.previous: tuple[int, int, int] | None = None
        self.started = self.last_input = self.last_full = clock()
        self.frozen = False

    def install(self) -> None:
        """Young generations only, automatically; the app calls `tick` for the rest."""
        if self.previous is None:
            self.previous = gc.get_threshold()
            # threshold2 so high that CPython never starts a full collection by itself.
            gc.set_threshold(*YOUNG_THRESHOLDS, 1_000_000_000)

    def uninstall(self) -> None:
        if self.previous is not None:
            gc.set_threshold(*self.previous)
            self.previous = None
        if self.frozen:
            gc.unfreeze()
            self.frozen = False

    def saw_input(self) -> None:
        self.last_input = self.clock()

    def tick(self) -> bool:
        """Called every few seconds: a full collection when idle (or overdue), and once, after
        start-up, the freeze of what exists then. → whether it collected."""
        now = self.clock()
        idle = now - self.last_input >= IDLE_SECONDS
        if idle and not self.frozen and now - self.started >= FREEZE_AFTER:
            gc.collect()
            gc.freeze()  # modules, classes, widgets: never garbage, never scanned again
            self.frozen = True
            self.last_full = self.clock()
            return True
        due = now - self.last_full >= FULL_EVERY
        if (idle and due) or now - self.last_full >= FORCE_AFTER:
            gc.collect()
            self.last_full = self.clock()
            return True
        return False
