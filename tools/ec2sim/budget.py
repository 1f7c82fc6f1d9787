"""EC2's request-rate budget for the account, as AWS documents it ("Request
throttling for the Amazon EC2 API"): a token bucket per class of action, shared by
every caller. Describe* are non-mutating (100 at once, 20 a second back); every
other action mutates (200 at once, 5 a second back). A call with no token left is
answered RequestLimitExceeded, as EC2 does, and counted."""
import threading
import time
from collections import Counter

from ec2xml import ec2_error

CLASSES = {"describe": (100.0, 20.0), "mutate": (200.0, 5.0)}


class Budget:
    def __init__(self, enabled):
        self.enabled = enabled
        self._lock = threading.Lock()
        self._tokens = {name: capacity for name, (capacity, _) in CLASSES.items()}
        self._updated = time.monotonic()
        self.throttled = Counter()

    @staticmethod
    def kind(action):
        return "describe" if action.startswith("Describe") else "mutate"

    def take(self, action):
        """None if the call may go on, else EC2's throttling answer."""
        if not self.enabled:
            return None
        kind = self.kind(action)
        with self._lock:
            now = time.monotonic()
            for name, (capacity, rate) in CLASSES.items():
                self._tokens[name] = min(capacity, self._tokens[name] + (now - self._updated) * rate)
            self._updated = now
            if self._tokens[kind] >= 1:
                self._tokens[kind] -= 1
                return None
            self.throttled[action] += 1
        return ec2_error("RequestLimitExceeded", "Request limit exceeded.", 503)

    def reset_stats(self):
        with self._lock:
            self.throttled = Counter()

    def stats(self):
        with self._lock:
            return dict(self.throttled)
