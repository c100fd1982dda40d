/// The maintenance app's schema as deployed (`seed-schema.md`), including its later changes:
/// the dropped status CHECK, `deleted_at`, `is_machine_down`, `webhook_notifications`. Used to
/// build demo and test databases that look like the real one; overdued itself never runs DDL
/// on the app's database.
public enum AppSchema {
    public static let statements: [String] = [
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT UNIQUE NOT NULL,
            password_hash TEXT NOT NULL,
            full_name TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            last_login DATETIME,
            is_super_admin INTEGER DEFAULT 0,
            first_name TEXT,
            last_name TEXT,
            deleted_at TEXT
        )
        """,
        """
        CREATE TABLE machines (
            id INTEGER PRIMARY KEY,
            machine_type TEXT NOT NULL,
            model TEXT,
            serial_number TEXT UNIQUE,
            location TEXT,
            status TEXT DEFAULT 'operational',
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            manufacturer TEXT,
            year INTEGER,
            technical_specs TEXT,
            deleted_at TEXT
        )
        """,
        """
        CREATE TABLE tickets (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id TEXT UNIQUE NOT NULL,
            title TEXT NOT NULL,
            description TEXT NOT NULL,
            machine_id INTEGER NOT NULL REFERENCES machines(id),
            status TEXT NOT NULL DEFAULT 'received',
            priority TEXT NOT NULL DEFAULT 'medium',
            reported_by INTEGER NOT NULL REFERENCES users(id),
            assigned_to INTEGER REFERENCES users(id),
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            updated_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            completed_at DATETIME,
            reporter_name TEXT,
            assignee_name TEXT,
            scheduled_date DATETIME,
            is_machine_down INTEGER DEFAULT 0,
            deleted_at TEXT
        )
        """,
        """
        CREATE TABLE webhook_notifications (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
            notification_type VARCHAR(50) NOT NULL,
            webhook_url TEXT NOT NULL,
            sent_at DATETIME NOT NULL,
            response_status INTEGER,
            response_body TEXT,
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            scheduled_date_notified TEXT
        )
        """,
    ]

    /// The app's indexes; created after bulk loading, as a migration tool would.
    public static let indexes: [String] = [
        "CREATE INDEX idx_tickets_status ON tickets(status)",
        "CREATE INDEX idx_tickets_machine ON tickets(machine_id)",
        "CREATE INDEX idx_tickets_assigned ON tickets(assigned_to)",
        "CREATE INDEX idx_tickets_created ON tickets(created_at DESC)",
        "CREATE INDEX idx_tickets_scheduled ON tickets(scheduled_date)",
        "CREATE INDEX idx_webhook_ticket ON webhook_notifications(ticket_id)",
    ]
}
