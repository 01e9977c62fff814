"""A delivery worker in its own process, for the SIGKILL test and the benchmark.

Usage: python -m tests.alerting.worker_proc SETTINGS_JSON WORKER_ID [LIMIT]
Runs deliver_due until no delivery is pending or sending, then prints a JSON summary.
"""

from __future__ import annotations

import json
import sys
import time

from sqlmodel import Session, col, func, select

from alerting.delivery import DeliveryStats, deliver_due
from config import load_settings
from storage.db import make_engine
from storage.models import Delivery


def main() -> None:
    settings = load_settings(**json.loads(sys.argv[1]))
    worker_id = sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    engine = make_engine(settings.db_url)
    total = DeliveryStats()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        st = deliver_due(settings, engine, worker_id, limit=limit)
        total.add(st)
        print(json.dumps({"claimed": st.claimed, "sent": st.sent}), flush=True)
        if st.claimed == 0:
            with Session(engine) as s:
                open_rows = s.exec(select(func.count()).select_from(Delivery).where(
                    col(Delivery.status).in_(("pending", "sending")))).one()
            if open_rows == 0:
                break
            time.sleep(0.1)
    summary = {k: getattr(total, k) for k in ("claimed", "sent", "retried", "dead", "reclaimed", "lost_lease")}
    print("SUMMARY " + json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
