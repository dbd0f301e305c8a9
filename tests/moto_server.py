"""moto_server, with its clock read the fast way: what the harness starts (tests/src/moto.rs).

moto's SQS reads the time through ``moto.core.utils.unix_time``, which builds two datetimes
per call (~9 us), and calls it per queued message several times for every message it sends
or receives (queue attributes, retention and visibility checks): a queue of 2,000 messages
took 3 s per ReceiveMessage and 75 s to fill. The same value from ``time.time()`` makes it
~25x faster; nothing else about the server changes.
"""

import threading
import time

import moto.core.utils as utils
import moto.sqs.models as sqs_models

_datetime_unix_time = utils.unix_time


_last = 0.0
_clock = threading.Lock()


def unix_time(dt=None):
    """Seconds since the epoch of ``dt`` (naive UTC), or of now.

    Now strictly increases from call to call, as the slow original's did in practice: moto
    makes a message visible again with ``visible_at = now`` and then asks ``now > visible_at``;
    two ``time.time()`` readings within its float resolution are equal, the message would stay
    "pending", and a later receive would then skip the rest of its FIFO group out of order.
    """
    global _last
    if dt is not None:
        return _datetime_unix_time(dt)
    with _clock:  # moto_server serves each request on a thread of its own
        _last = max(time.time(), _last + 1e-6)
        return _last


def unix_time_millis(dt=None):
    """Milliseconds since the epoch of ``dt``, or of now."""
    return unix_time(dt) * 1000.0


utils.unix_time = unix_time
utils.unix_time_millis = unix_time_millis
sqs_models.unix_time = unix_time
sqs_models.unix_time_millis = unix_time_millis

from moto.server import main  # noqa: E402  (after the clock is replaced)

if __name__ == "__main__":
    main()
