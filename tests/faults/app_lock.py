#!/usr/bin/env python3
"""Plays the maintenance app against its own (rollback-journal) tickets database.
  app_lock.py hold DB SECONDS FIRST LAST   BEGIN EXCLUSIVE, make tickets FIRST..LAST overdue,
                                           keep the transaction open SECONDS, then COMMIT
  app_lock.py vacuum DB FIRST LAST         make FIRST..LAST overdue (committed), then VACUUM
Prints what it did with timestamps."""
import sqlite3, sys, time


def overdue(db, first, last):
    db.execute("UPDATE tickets SET status = 'received', assigned_to = (SELECT min(id) FROM users), "
               "scheduled_date = '2020-06-15 10:00:00', deleted_at = NULL WHERE id BETWEEN ? AND ?", (first, last))


mode, path = sys.argv[1], sys.argv[2]
db = sqlite3.connect(path, isolation_level=None, timeout=30)
if mode == "hold":
    seconds, first, last = float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    db.execute("BEGIN EXCLUSIVE")
    print(f"{time.time():.3f} app: BEGIN EXCLUSIVE held", flush=True)
    overdue(db, first, last)
    time.sleep(seconds)
    db.execute("COMMIT")
    print(f"{time.time():.3f} app: COMMIT after {seconds}s", flush=True)
elif mode == "vacuum":
    first, last = int(sys.argv[3]), int(sys.argv[4])
    db.execute("BEGIN IMMEDIATE")
    overdue(db, first, last)
    db.execute("COMMIT")
    started = time.time()
    db.execute("VACUUM")
    print(f"{time.time():.3f} app: VACUUM took {time.time() - started:.2f}s", flush=True)
else:
    sys.exit("unknown mode")
