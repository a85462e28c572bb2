"""Synthetic raw product events for the rollup's tests and benchmark (deterministic for a seed).

Written to Parquet in chunks (memory stays flat at 10^8 rows), timestamps in microseconds (Spark
reads no nanosecond Parquet timestamps).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

EVENT_TYPES = ("login", "page_view", "report_run", "export", "invite_sent", "api_call", "dashboard_view",
               "comment")
START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z in microseconds
DAY_US = 86_400_000_000


def account_ids(n_accounts: int) -> list[str]:
    return [f"A{i:06d}" for i in range(n_accounts)]


def events_table(n: int, n_accounts: int = 2000, days: int = 31, seed: int = 0, users_per_account: int = 25,
                 duplicate_share: float = 0.01, unknown_share: float = 0.001, with_value: bool = True,
                 offset: int = 0) -> pa.Table:
    """n event rows: account_id, event_time (UTC, us), event_type, user_id, value (small integers, exact
    as floats), with a share of exact duplicate rows and of rows for accounts that do not exist."""
    rng = np.random.default_rng([seed, offset])
    acc = rng.integers(0, n_accounts, n)
    unknown = rng.random(n) < unknown_share
    acc_ids = np.char.add("A", np.char.zfill(acc.astype(str), 6)).astype(object)
    acc_ids[unknown] = np.char.add("X", np.char.zfill(acc[unknown].astype(str), 6))
    ts = START_US + rng.integers(0, days * DAY_US, n)
    etype = np.asarray(EVENT_TYPES, dtype=object)[rng.integers(0, len(EVENT_TYPES), n)]
    user = np.char.add("u", (acc * users_per_account + rng.integers(0, users_per_account, n)).astype(str))
    cols = {"account_id": acc_ids, "event_time": ts, "event_type": etype, "user_id": user.astype(object)}
    if with_value:
        cols["value"] = rng.integers(1, 5, n).astype(float)
    dup = rng.random(n) < duplicate_share  # resent events: copy an earlier row of the chunk
    if dup.any():
        src = rng.integers(0, n, int(dup.sum()))
        for k in cols:
            cols[k] = np.asarray(cols[k]).copy()
            cols[k][dup] = cols[k][src]
    arrays = {
        "account_id": pa.array(cols["account_id"], pa.string()),
        "event_time": pa.array(cols["event_time"].astype("int64"), pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "event_type": pa.array(cols["event_type"], pa.string()),
        "user_id": pa.array(cols["user_id"], pa.string()),
    }
    if with_value:
        arrays["value"] = pa.array(cols["value"], pa.float64())
    return pa.table(arrays)


def write_events(path: str | Path, n: int, chunk: int = 5_000_000, **kwargs) -> Path:
    """n events to one Parquet file at path, generated chunk rows at a time."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        done = 0
        while done < n:
            k = min(chunk, n - done)
            t = events_table(k, offset=done, **kwargs)
            if writer is None:
                writer = pq.ParquetWriter(path, t.schema, compression="snappy")
            writer.write_table(t, row_group_size=1_000_000)
            done += k
    finally:
        if writer is not None:
            writer.close()
    return path
