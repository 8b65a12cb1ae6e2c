"""How many inputs ``batch`` and ``abatch`` run at once unless told otherwise."""

BATCH_CONCURRENCY = 8
