-- The platform's own database. It never holds balances (the bank does); it
-- holds what the platform asked for, what the bank answered, and the plans.

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS users (
    user_no     TEXT PRIMARY KEY,
    username    TEXT NOT NULL UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('B', 'I')),
    fullname    TEXT NOT NULL,
    id_number   TEXT NOT NULL,
    mobile      TEXT NOT NULL,
    card_number TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'NEW',      -- NEW, OPENING, OPEN, FAILED
    open_request_no TEXT,
    created_at  TEXT NOT NULL
);

-- One row per outbound requestNo: the depository agent's transaction record.
CREATE TABLE IF NOT EXISTS depository_records (
    request_no   TEXT PRIMARY KEY,
    service_name TEXT NOT NULL,
    object_type  TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    payload      TEXT NOT NULL,
    status       INTEGER NOT NULL DEFAULT 0,     -- 0 unsynced, 1 synced, 2 failed
    resp_code    TEXT NOT NULL DEFAULT '',
    resp_data    TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    amount       INTEGER NOT NULL DEFAULT 0,
    commission   INTEGER NOT NULL DEFAULT 0,
    user_no      TEXT NOT NULL DEFAULT '',
    biz_type     TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    confirmed_at TEXT
);
CREATE INDEX IF NOT EXISTS records_status ON depository_records (status);
CREATE INDEX IF NOT EXISTS records_confirmed ON depository_records (confirmed_at);

CREATE TABLE IF NOT EXISTS recharges (
    request_no TEXT PRIMARY KEY,
    user_no    TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    status     TEXT NOT NULL DEFAULT 'PENDING',  -- PENDING, SUCCESS, FAIL
    created_at TEXT NOT NULL,
    finished_at TEXT
);

CREATE TABLE IF NOT EXISTS withdrawals (
    request_no TEXT PRIMARY KEY,
    user_no    TEXT NOT NULL,
    amount     INTEGER NOT NULL,
    commission INTEGER NOT NULL DEFAULT 0,
    status     TEXT NOT NULL DEFAULT 'PENDING',
    created_at TEXT NOT NULL,
    finished_at TEXT
);

CREATE TABLE IF NOT EXISTS projects (
    project_no  TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    borrower    TEXT NOT NULL REFERENCES users (user_no),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    annual_rate TEXT NOT NULL,
    periods     INTEGER NOT NULL,
    method      TEXT NOT NULL,
    status      TEXT NOT NULL,   -- DRAFT, COLLECTING, FULLY, LOANED, REPAYING, SETTLED, MISCARRY, REJECTED
    borrower_commission_rate TEXT NOT NULL,
    investor_commission_rate TEXT NOT NULL,
    create_request_no TEXT,
    loan_request_no   TEXT,
    loan_commission   INTEGER NOT NULL DEFAULT 0,
    modify_request_no TEXT,
    finish_request_no TEXT,
    miscarry_request_no TEXT,
    loan_date   TEXT,
    created_at  TEXT NOT NULL,
    approved_at TEXT
);

CREATE TABLE IF NOT EXISTS tenders (
    request_no  TEXT PRIMARY KEY,
    project_no  TEXT NOT NULL REFERENCES projects (project_no),
    user_no     TEXT NOT NULL REFERENCES users (user_no),
    amount      INTEGER NOT NULL CHECK (amount > 0),
    status      TEXT NOT NULL,   -- PENDING, FROZEN, FAILED, LOANED, CANCELLED
    cancel_request_no TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tenders_project ON tenders (project_no, status);
-- What a project has taken (every tender checks it) summed from the index alone, not one table row per tender.
CREATE INDEX IF NOT EXISTS tenders_taken ON tenders (project_no, status, amount);

CREATE TABLE IF NOT EXISTS repayment_plans (
    id          INTEGER PRIMARY KEY,
    project_no  TEXT NOT NULL REFERENCES projects (project_no),
    period      INTEGER NOT NULL,
    due_date    TEXT NOT NULL,
    principal   INTEGER NOT NULL,
    interest    INTEGER NOT NULL,
    platform_fee INTEGER NOT NULL,
    amount      INTEGER NOT NULL,
    status      TEXT NOT NULL DEFAULT 'UNPAID',  -- UNPAID, FROZEN, PAID
    freeze_request_no  TEXT,
    confirm_request_no TEXT,
    paid_at     TEXT,
    UNIQUE (project_no, period)
);
CREATE INDEX IF NOT EXISTS plans_due ON repayment_plans (status, due_date);

CREATE TABLE IF NOT EXISTS receivable_plans (
    id          INTEGER PRIMARY KEY,
    plan_id     INTEGER NOT NULL REFERENCES repayment_plans (id),
    project_no  TEXT NOT NULL,
    tender_request_no TEXT NOT NULL,
    user_no     TEXT NOT NULL,
    period      INTEGER NOT NULL,
    due_date    TEXT NOT NULL,
    principal   INTEGER NOT NULL,
    interest    INTEGER NOT NULL,   -- what the investor receives as interest
    commission  INTEGER NOT NULL,   -- the platform's fee from this share
    status      TEXT NOT NULL DEFAULT 'UNPAID',  -- UNPAID, PAID
    paid_at     TEXT
);
CREATE INDEX IF NOT EXISTS receivables_plan ON receivable_plans (plan_id);
CREATE INDEX IF NOT EXISTS receivables_user ON receivable_plans (user_no, status);

-- Durable local outbox (the seed's transactional message for CONFIRM_REPAYMENT).
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    ref         TEXT NOT NULL,
    request_no  TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL DEFAULT 'PENDING',  -- PENDING, DONE, FAILED
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    done_at     TEXT
);

-- Bank notifications applied (deduplicated by service and requestNo).
CREATE TABLE IF NOT EXISTS notifications_seen (
    service_name TEXT NOT NULL,
    request_no   TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    times        INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (service_name, request_no)
);

CREATE TABLE IF NOT EXISTS reconciliations (
    business_date TEXT PRIMARY KEY,
    created_at    TEXT NOT NULL,
    clean         INTEGER NOT NULL,
    report        TEXT NOT NULL
);

-- Debt transfer (债权转让): a seller's remaining principal in a project, for sale.
CREATE TABLE IF NOT EXISTS claims (
    claim_no    TEXT PRIMARY KEY,
    project_no  TEXT NOT NULL REFERENCES projects (project_no),
    seller      TEXT NOT NULL REFERENCES users (user_no),
    principal   INTEGER NOT NULL CHECK (principal > 0),
    price       INTEGER NOT NULL CHECK (price > 0),
    fee_rate    TEXT NOT NULL DEFAULT '0',
    fee         INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL,   -- LISTED, RESERVED, SOLD, CANCELLED
    buyer       TEXT,
    freeze_request_no  TEXT,
    confirm_request_no TEXT,
    cancel_request_no  TEXT,
    created_at  TEXT NOT NULL,
    sold_at     TEXT
);
CREATE INDEX IF NOT EXISTS claims_project ON claims (project_no, seller, status);
