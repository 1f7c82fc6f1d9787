"""One thread that runs state transitions when they fall due."""
import heapq
import itertools
import logging
import threading
import time

log = logging.getLogger("ec2sim.clock")


class Scheduler:
    def __init__(self):
        self._heap = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="ec2sim-clock", daemon=True)
        self._thread.start()

    def after(self, delay, fn):
        """Run fn after `delay` seconds; at once, on the caller's thread, if delay <= 0."""
        if delay <= 0:
            fn()
            return
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), fn))
            self._cond.notify()

    def clear(self):
        with self._cond:
            self._heap = []

    def stop(self):
        with self._cond:
            self._stopped = True
            self._heap = []
            self._cond.notify()
        self._thread.join(5)

    def _run(self):
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._cond.wait(timeout)
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                fn()
            except Exception:
                log.exception("transition failed")
