#!/usr/bin/env python3
"""Builds a tickets database whose tickets table has no NOT NULL / type constraints and holds
every garbage form the app has produced, and prints the expectations as JSON:
{"warn_once": [ids], "silent_absent": [ids], "handled": [ids], "at_most_once": [ids]}.
usage: garbage_db.py PATH"""
import json, os, sqlite3, sys

path = sys.argv[1]
if os.path.exists(path):
    os.unlink(path)
db = sqlite3.connect(path)
db.executescript("""
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, password_hash TEXT, full_name TEXT, role TEXT,
  created_at DATETIME, updated_at DATETIME, last_login DATETIME, is_super_admin INTEGER, first_name TEXT,
  last_name TEXT, deleted_at TEXT);
CREATE TABLE machines (id INTEGER PRIMARY KEY, machine_type TEXT, model TEXT, serial_number TEXT, location TEXT,
  status TEXT, created_at DATETIME, updated_at DATETIME, manufacturer TEXT, year INTEGER, technical_specs TEXT, deleted_at TEXT);
CREATE TABLE tickets (id INTEGER PRIMARY KEY AUTOINCREMENT, ticket_id, title, description, machine_id, status,
  priority, reported_by, assigned_to, created_at, updated_at, completed_at, reporter_name, assignee_name,
  scheduled_date, is_machine_down, deleted_at);
CREATE INDEX idx_tickets_status ON tickets(status);
CREATE INDEX idx_tickets_scheduled ON tickets(scheduled_date);
INSERT INTO users (id, email, full_name, role) VALUES (1, 'a@example.test', 'Rémi Roy', 'technician'),
  (2, 'b@example.test', NULL, 'technician');
INSERT INTO machines (id, machine_type, model, location) VALUES (1, 'Presse', 'P-1', 'Atelier'), (2, NULL, NULL, NULL);
""")
bad_utf8 = b"\xff\xfe\xc3\x28 title \xa0\xa1 \xed\xa0\x80 end"
past = "2020-06-15 10:00:00"
rows = []  # (id, overrides, category)


def row(i, category, **over):
    base = dict(ticket_id=f"G-{i:03d}", title=f"title {i}", description=f"description {i}", machine_id=1,
                status="received", priority="high", reported_by=1, assigned_to=1,
                created_at="2020-01-01 08:00:00", scheduled_date=past, is_machine_down=0, deleted_at=None)
    base.update(over)
    rows.append((i, base, category))


row(1, "silent_absent", scheduled_date=None)
row(2, "silent_absent", scheduled_date="")
row(3, "silent_absent", scheduled_date="null")
row(4, "warn_once", scheduled_date="demain")
row(5, "warn_once", scheduled_date="2026-02-30 10:00:00")
row(6, "warn_once", scheduled_date="24/11/2026")
row(7, "warn_once", scheduled_date=20261124)
row(8, "handled", title=bad_utf8, description=bad_utf8)
row(9, "handled", ticket_id=b"G-\xff\xfe-009", assignee_name=bad_utf8)
row(10, "at_most_once", scheduled_date=b"\xff\xfe2020-01-01")
row(11, "handled", description="x" * (1024 * 1024))
row(12, "warn_once", ticket_id=None)
row(13, "handled", title=None, description=None, priority=None)
row(14, "handled", machine_id=None, reported_by=None)
row(15, "at_most_once", status=None)
row(16, "handled", assigned_to=0)
row(17, "handled", scheduled_date="2026-01-24T10:00:00Z")
row(18, "silent_absent", scheduled_date="   ")
row(19, "warn_once", scheduled_date="2020-13-01")
row(20, "warn_once", scheduled_date=45000.5)
row(21, "warn_once", scheduled_date="garbage " * 2000)
row(22, "handled", ticket_id='G-022 "quoted"\nnewline\ttab')
row(23, "handled", machine_id=999, reported_by=999, assigned_to=999)
row(24, "warn_once", ticket_id="")
row(25, "at_most_once", status=b"rec\xffeived")
row(26, "warn_once", scheduled_date="0000-00-00 00:00:00")
row(27, "handled", is_machine_down="yes", created_at=None)
row(28, "handled", priority=12345, title=3.5)
row(29, "handled", description="ligne\u0000nul\u0007bell")
row(30, "handled", ticket_id="G-030", scheduled_date="2020-06-15")

cols = list(rows[0][1].keys())
for i, r, _ in rows:
    vals = [sqlite3.Binary(v) if isinstance(v, bytes) else v for v in (r[c] for c in cols)]
    db.execute(f"INSERT INTO tickets (id, {', '.join(cols)}) VALUES (?, {', '.join('?' * len(cols))})", [i] + vals)
db.commit()
db.execute("PRAGMA journal_mode=DELETE")
db.close()
out = {}
for i, _, cat in rows:
    out.setdefault(cat, []).append(i)
print(json.dumps(out))
