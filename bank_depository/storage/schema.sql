-- The bank depository's database. Money columns are integer fen.
-- Ledger rows (entries, postings) are append-only; accounts.balance is a
-- cache that `verify` proves equal to the sum of the account's postings.

CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS platforms (
    platform_no TEXT PRIMARY KEY,
    name        TEXT NOT NULL DEFAULT '',
    public_key  TEXT NOT NULL,
    algorithm   TEXT NOT NULL DEFAULT 'SHA256withRSA',
    notify_url  TEXT NOT NULL DEFAULT '',
    profile     TEXT NOT NULL DEFAULT 'modern'
);

CREATE TABLE IF NOT EXISTS accounts (
    id       INTEGER PRIMARY KEY,
    code     TEXT NOT NULL UNIQUE,
    kind     TEXT NOT NULL CHECK (kind IN ('available', 'frozen', 'card', 'fee', 'funding')),
    owner    TEXT NOT NULL DEFAULT '',
    balance  INTEGER NOT NULL DEFAULT 0,
    CHECK (kind = 'funding' OR balance >= 0)
);

CREATE TABLE IF NOT EXISTS entries (
    id          INTEGER PRIMARY KEY,
    platform_no TEXT NOT NULL DEFAULT '',
    request_no  TEXT NOT NULL DEFAULT '',
    service     TEXT NOT NULL,
    biz_type    TEXT NOT NULL DEFAULT '',
    memo        TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_request ON entries (platform_no, request_no);

CREATE TABLE IF NOT EXISTS postings (
    id         INTEGER PRIMARY KEY,
    entry_id   INTEGER NOT NULL REFERENCES entries (id),
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    amount     INTEGER NOT NULL CHECK (amount <> 0)
);
CREATE INDEX IF NOT EXISTS postings_entry ON postings (entry_id);
CREATE INDEX IF NOT EXISTS postings_account ON postings (account_id);

CREATE TABLE IF NOT EXISTS bank_customers (
    id        INTEGER PRIMARY KEY,
    fullname  TEXT NOT NULL,
    id_number TEXT NOT NULL UNIQUE,
    mobile    TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS bank_cards (
    card_number TEXT PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES bank_customers (id),
    bank_code   TEXT NOT NULL,
    bank_name   TEXT NOT NULL,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    created_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
    platform_no   TEXT NOT NULL,
    user_no       TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('B', 'I')),
    customer_id   INTEGER NOT NULL REFERENCES bank_customers (id),
    card_number   TEXT NOT NULL UNIQUE REFERENCES bank_cards (card_number),
    fullname      TEXT NOT NULL,
    id_number     TEXT NOT NULL,
    mobile        TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    available_id  INTEGER NOT NULL REFERENCES accounts (id),
    frozen_id     INTEGER NOT NULL REFERENCES accounts (id),
    request_no    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (platform_no, user_no),
    UNIQUE (platform_no, id_number)
);

CREATE TABLE IF NOT EXISTS projects (
    platform_no   TEXT NOT NULL,
    project_no    TEXT NOT NULL,
    user_no       TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL DEFAULT '',
    project_type  TEXT NOT NULL DEFAULT '',
    amount        INTEGER NOT NULL CHECK (amount > 0),
    period        INTEGER,
    annual_rate   TEXT NOT NULL DEFAULT '',
    repayment_way TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    loan_request_no TEXT,
    request_no    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    modified_at   TEXT NOT NULL,
    PRIMARY KEY (platform_no, project_no)
);

-- Pre-transactions: money moved from available to frozen under a name.
CREATE TABLE IF NOT EXISTS holds (
    platform_no TEXT NOT NULL,
    request_no  TEXT NOT NULL,
    user_no     TEXT NOT NULL,
    project_no  TEXT NOT NULL DEFAULT '',
    biz_type    TEXT NOT NULL,
    amount      INTEGER NOT NULL CHECK (amount > 0),
    remaining   INTEGER NOT NULL CHECK (remaining >= 0),
    state       TEXT NOT NULL CHECK (state IN ('FROZEN', 'SETTLED', 'CANCELLED')),
    settled_by  TEXT,
    created_at  TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (platform_no, request_no)
);
CREATE INDEX IF NOT EXISTS holds_user ON holds (platform_no, user_no, state);
-- Covers the per-tender "how much of the project is taken" sum without touching the rows, and every
-- lookup of a project's holds (its first four columns were the index holds_project, which every hold
-- written or closed also had to update: gone, issue 17).
CREATE INDEX IF NOT EXISTS holds_tendered ON holds (platform_no, project_no, biz_type, state, amount);
DROP INDEX IF EXISTS holds_project;

-- Outstanding principal each investor holds in a loaned project.
CREATE TABLE IF NOT EXISTS claims (
    platform_no TEXT NOT NULL,
    project_no  TEXT NOT NULL,
    user_no     TEXT NOT NULL,
    principal   INTEGER NOT NULL CHECK (principal >= 0),
    PRIMARY KEY (platform_no, project_no, user_no)
);

-- Every request received under a requestNo, and what was answered.
CREATE TABLE IF NOT EXISTS requests (
    platform_no  TEXT NOT NULL,
    request_no   TEXT NOT NULL,
    service_name TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       INTEGER NOT NULL,
    resp_code    TEXT NOT NULL DEFAULT '',
    resp_data    TEXT,
    biz_type     TEXT NOT NULL DEFAULT '',
    user_no      TEXT NOT NULL DEFAULT '',
    counterparty TEXT NOT NULL DEFAULT '',
    amount       INTEGER NOT NULL DEFAULT 0,
    commission   INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    finished_at  TEXT,
    business_date TEXT,
    PRIMARY KEY (platform_no, request_no)
);
CREATE INDEX IF NOT EXISTS requests_day ON requests (platform_no, business_date, finished_at, request_no);

-- Durable outbox of asynchronous notifications (written with the movement).
CREATE TABLE IF NOT EXISTS notifications (
    id            INTEGER PRIMARY KEY,
    platform_no   TEXT NOT NULL,
    service_name  TEXT NOT NULL,
    request_no    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('PENDING', 'DELIVERED', 'DEAD', 'DROPPED')),
    attempts      INTEGER NOT NULL DEFAULT 0,   -- every delivery attempt ever made
    cycle_start   INTEGER NOT NULL DEFAULT 0,   -- attempts made before the last resend (its schedule restarts)
    next_attempt_at TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    delivered_at  TEXT
);
CREATE INDEX IF NOT EXISTS notifications_due ON notifications (state, next_attempt_at);

CREATE TABLE IF NOT EXISTS notification_attempts (
    id              INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notifications (id),
    attempted_at    TEXT NOT NULL,
    http_status     INTEGER,
    error           TEXT NOT NULL DEFAULT '',
    body            TEXT NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS fault_rules (
    id         INTEGER PRIMARY KEY,
    rule       TEXT NOT NULL,
    matched    INTEGER NOT NULL DEFAULT 0,
    fired      INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS fault_log (
    id         INTEGER PRIMARY KEY,
    rule_id    INTEGER NOT NULL,
    rule       TEXT NOT NULL,
    action     TEXT NOT NULL,
    service    TEXT NOT NULL DEFAULT '',
    request_no TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    fired_at   TEXT NOT NULL
);

-- Every request that reached the signed protocol's endpoints, accepted or
-- refused (envelope errors included), written after the answer, in its own
-- short transaction: never part of the business transaction.
CREATE TABLE IF NOT EXISTS request_log (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    endpoint      TEXT NOT NULL,
    platform_no   TEXT NOT NULL DEFAULT '',
    service_name  TEXT NOT NULL DEFAULT '',
    request_no    TEXT NOT NULL DEFAULT '',
    resp_code     TEXT NOT NULL DEFAULT '',
    outcome       TEXT NOT NULL CHECK (outcome IN ('accepted', 'refused')),
    http_status   INTEGER NOT NULL,
    duration_ms   INTEGER NOT NULL,
    fault_rule_id INTEGER,
    fault_action  TEXT NOT NULL DEFAULT '',
    detail        TEXT NOT NULL DEFAULT '',
    diagnosis     TEXT
);
CREATE INDEX IF NOT EXISTS request_log_platform ON request_log (platform_no, id);
CREATE INDEX IF NOT EXISTS request_log_request ON request_log (request_no);
-- One live gateway page per pending request: the one-time token its form carries and the
-- cookie it set, both stored as SHA-256 digests. Reopening the request replaces the row
-- (the old page dies); the request's final outcome marks it used.
CREATE TABLE IF NOT EXISTS gateway_pages (
    platform_no TEXT NOT NULL,
    request_no  TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    cookie_hash TEXT NOT NULL,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    PRIMARY KEY (platform_no, request_no)
);

-- Wrong trade-password attempts per depository account; locked_at set after the 5th.
CREATE TABLE IF NOT EXISTS password_guards (
    platform_no TEXT NOT NULL,
    user_no     TEXT NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    locked_at   TEXT,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (platform_no, user_no)
);
