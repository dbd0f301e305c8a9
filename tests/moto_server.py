"""moto_server, with its clock read the fast way: what the harness starts (tests/src/moto.rs).

moto's SQS reads the time through ``moto.core.utils.unix_time``, which builds two datetimes
per call (~9 us), and calls it per queued message several times for every message it sends
or receives (queue attributes, retention and visibility checks): a queue of 2,000 messages
took 3 s per ReceiveMessage and 75 s to fill. The same value from ``time.time()`` makes it
~25x faster; nothing else about the server changes.
"""

import time

import moto.core.utils as utils
import moto.sqs.models as sqs_models

_datetime_unix_time = utils.unix_time


def unix_time(dt=None):
    """Seconds since the epoch of ``dt`` (naive UTC), or of now."""
    return time.time() if dt is None else _datetime_unix_time(dt)


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
