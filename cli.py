"""The ``wanxin`` command: serve the apps, run scenarios, inspect and reconcile.

Thin by design: each command parses its options, calls one function and
prints. Errors are one line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

KEY_FILES = ("bank_private.pem", "bank_public.pem", "platform_private.pem", "platform_public.pem")


def _echo_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


# -- the operator credential -------------------------------------------------
def _operator_headers() -> dict:
    """The operator credential for the bank's /sim API: --sim-token, then WANXIN_SIM_TOKEN."""
    from bank_depository.protocol import operator

    ctx = click.get_current_context(silent=True)
    explicit = ctx.meta.get("wanxin.sim_token") if ctx is not None else None
    return operator.header(operator.resolve(explicit))


def _operator_token() -> str | None:
    from bank_depository.protocol import operator

    return operator.presented(_operator_headers().get(operator.HEADER_NAME)) or None


def _remember_token(ctx: click.Context, _param, value):
    if value:
        ctx.meta["wanxin.sim_token"] = value
    return value


def sim_token_option(f):
    """--sim-token: the bank's operator credential (default: WANXIN_SIM_TOKEN)."""
    return click.option("--sim-token", expose_value=False, callback=_remember_token, is_eager=True,
                        help="The bank's operator credential [env WANXIN_SIM_TOKEN; the bank writes it to "
                             "<db>.sim-token].")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """wanxin-sandbox: a bank depository (银行存管) simulator and P2P test harness."""


# -- keys -------------------------------------------------------------------
@main.group()
def keys() -> None:
    """Key pairs for the bank and the platform."""


@keys.command("generate")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("keys"),
              show_default=True, help="Where to write the four PEM files.")
@click.option("--force", is_flag=True, help="Overwrite existing key files.")
@click.option("--bits", type=click.IntRange(2048, 8192), default=2048, show_default=True, help="RSA key size.")
def keys_generate(directory: Path, force: bool, bits: int) -> None:
    """Write bank_private.pem, bank_public.pem, platform_private.pem, platform_public.pem (RSA)."""
    from bank_depository.protocol.signing import generate_key_pair

    existing = [name for name in KEY_FILES if (directory / name).exists()]
    if existing and not force:
        raise click.ClickException(f"{directory / existing[0]} exists; use --force to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    for side in ("bank", "platform"):
        private_pem, public_pem = generate_key_pair(bits)
        private_path = directory / f"{side}_private.pem"
        private_path.write_bytes(private_pem)
        private_path.chmod(0o600)
        (directory / f"{side}_public.pem").write_bytes(public_pem)
    click.echo(f"wrote {', '.join(KEY_FILES)} to {directory}")


# -- bank -------------------------------------------------------------------
@main.group()
def bank() -> None:
    """The bank depository simulator."""


def bank_config(db: Path, keys_dir: Path, platform_no: str, notify_url: str, profile: str,
                algorithm: str | None, password_iterations: int, frozen_clock: bool,
                context_path: str = "/wanxindepository") -> dict:
    for name in ("bank_private.pem", "platform_public.pem"):
        if not (keys_dir / name).exists():
            raise click.ClickException(f"{keys_dir / name} is missing; run `wanxin keys generate --dir {keys_dir}`")
    return {
        "DATABASE": str(db),
        "PRIVATE_KEY": (keys_dir / "bank_private.pem").read_text(),
        "PLATFORMS": [{"platform_no": platform_no, "public_key": (keys_dir / "platform_public.pem").read_text(),
                       "notify_url": notify_url, "profile": profile, "algorithm": algorithm}],
        "PASSWORD_ITERATIONS": password_iterations,
        "CLOCK_FROZEN": frozen_clock,
        "DISPATCHER_THREAD": True,
        "LEGACY_CONTEXT_PATH": context_path,
    }


@bank.command("serve")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=Path("bank.sqlite"),
              show_default=True, help="SQLite database file (created if missing).")
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("keys"),
              show_default=True, help="Directory with bank_private.pem and platform_public.pem.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=55010, show_default=True,
              help="Port to bind; 0 picks a free port and prints it.")
@click.option("--platform-no", default="wanxinp2p", show_default=True, help="The platform to trust.")
@click.option("--notify-url", default="",
              help="Where the bank POSTs asynchronous notifications (legacy: GET {notify-url}gateway/?…).")
@click.option("--profile", type=click.Choice(["modern", "legacy"]), default="modern", show_default=True,
              help="Wire profile of the platform (legacy: the original Java depository's wire).")
@click.option("--context-path", default="/wanxindepository", show_default=True,
              help="Where the legacy profile's routes live (/service, /gateway, /trans/*, /balance-details …).")
@click.option("--algorithm", type=click.Choice(["SHA256withRSA", "SHA1withRSA"]), default=None,
              help="Signature hash (default: SHA256withRSA; SHA1withRSA for legacy).")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True, help="Worker processes.")
@click.option("--password-iterations", type=click.IntRange(1, 10_000_000), default=120_000, show_default=True,
              help="PBKDF2 work factor of trade passwords.")
@click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Threads per worker; one thread in more workers measured fastest (bench/bank_direct.py).")
@click.option("--frozen-clock", is_flag=True, help="Stop the bank clock (it moves only via /sim/clock).")
@click.option("--sim-token", envvar="WANXIN_SIM_TOKEN", default=None,
              help="The operator credential for /sim (default: generated once and kept in <db>.sim-token, mode 0600) "
                   "[env WANXIN_SIM_TOKEN].")
def bank_serve(db, keys_dir, host, port, platform_no, notify_url, profile, context_path, algorithm, workers,
               threads, password_iterations, frozen_clock, sim_token) -> None:
    """Serve the bank on gunicorn worker processes with an embedded SQLite file."""
    from bank_depository.app import create_app
    from serving import serve, warn_if_exposed

    config = bank_config(db, keys_dir, platform_no, notify_url, profile, algorithm, password_iterations,
                         frozen_clock, context_path)
    if sim_token:
        config["SIM_TOKEN"] = sim_token
    try:
        check = create_app({**config, "DISPATCHER_THREAD": False})  # fail fast on bad keys, create the schema
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    check.extensions["wanxin.bank"].database.close()  # no SQLite handle may cross gunicorn's fork
    config["SIM_TOKEN"] = check.config["SIM_TOKEN"]  # every worker checks the same credential

    from bank_depository.protocol.legacy import context_path as wire_path

    warn_if_exposed(host, "bank")

    def ready(h, p):
        click.echo(f"bank listening on http://{h}:{p}  (db {db}, platform {platform_no})", err=False)
        if sim_token:
            click.echo("operator credential: the --sim-token given (send 'Authorization: Bearer <token>' to /sim)")
        else:
            from bank_depository.protocol import operator
            click.echo(f"operator credential for /sim: {operator.token_file(db)} (WANXIN_SIM_TOKEN=$(cat "
                       f"{operator.token_file(db)}))")
        if profile == "legacy":
            click.echo(f"legacy wire for {platform_no}: http://{h}:{p}{wire_path(context_path)}/service and /gateway")
        sys.stdout.flush()

    serve(lambda: create_app(config), host=host, port=port, workers=workers, threads=threads, on_ready=ready)


# -- platform -----------------------------------------------------------------
@main.group()
def platform() -> None:
    """The thin P2P platform."""


@platform.command("serve")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=Path("platform.sqlite"),
              show_default=True, help="SQLite database file (created if missing).")
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("keys"),
              show_default=True, help="Directory with platform_private.pem and bank_public.pem.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=53070, show_default=True,
              help="Port to bind; 0 picks a free port and prints it.")
@click.option("--bank-url", envvar="WANXIN_BANK_URL", required=True, help="The bank's base URL [env WANXIN_BANK_URL].")
@click.option("--public-url", default="", help="How the bank and browsers reach this platform (default: the bound address).")
@click.option("--platform-no", default="wanxinp2p", show_default=True, help="This platform's number at the bank.")
@click.option("--bank-profile", type=click.Choice(["modern", "legacy"]), default="modern", show_default=True,
              help="The bank's wire (legacy: the original Java depository's, under --bank-context-path).")
@click.option("--bank-context-path", default="/wanxindepository", show_default=True,
              help="Where a legacy bank serves /service and /gateway.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Worker processes.")
@click.option("--sim-token", "sim_token", default=None,
              help="The operator credential for the platform's API (default: WANXIN_SIM_TOKEN, else generated once "
                   "and kept in <db>.sim-token, mode 0600). Give the bank's token to open both with one.")
def platform_serve(db, keys_dir, host, port, bank_url, public_url, platform_no, bank_profile, bank_context_path,
                   workers, sim_token) -> None:
    """Serve the platform on gunicorn worker processes; prints the notify URL for the bank."""
    from p2p_platform.app import create_app
    from serving import serve, warn_if_exposed

    for name in ("platform_private.pem", "bank_public.pem"):
        if not (keys_dir / name).exists():
            raise click.ClickException(f"{keys_dir / name} is missing; run `wanxin keys generate --dir {keys_dir}`")
    config = {"DATABASE": str(db), "PRIVATE_KEY": (keys_dir / "platform_private.pem").read_text(),
              "BANK_PUBLIC_KEY": (keys_dir / "bank_public.pem").read_text(), "BANK_URL": bank_url,
              "PLATFORM_NO": platform_no, "PUBLIC_URL": public_url, "DAILY_JOB_THREAD": True,
              "BANK_PROFILE": bank_profile, "BANK_CONTEXT_PATH": bank_context_path}
    from bank_depository.protocol import operator

    token = operator.resolve(sim_token)
    if token:
        config["SIM_TOKEN"] = token
    check = create_app({**config, "PUBLIC_URL": public_url or "http://127.0.0.1", "DAILY_JOB_THREAD": False})
    config["SIM_TOKEN"] = check.config["SIM_TOKEN"]  # every worker checks the same credential
    warn_if_exposed(host, "platform")
    bound: dict = {}

    def ready(h, p):
        bound["url"] = public_url or f"http://{h}:{p}"
        click.echo(f"platform listening on http://{h}:{p}  (db {db}, bank {bank_url})")
        # A legacy bank appends "gateway/" to the notify URL, as the original does.
        click.echo(f"notify URL for the bank: {bound['url']}/notify{'/' if bank_profile == 'legacy' else ''}")
        click.echo("operator credential for /api and /sim: " + ("the one given" if token else
                                                                 str(operator.token_file(db))))
        sys.stdout.flush()

    serve(lambda: create_app({**config, "PUBLIC_URL": bound.get("url", public_url)}), host=host, port=port,
          workers=workers, on_ready=ready)


# -- scenarios and the demo -----------------------------------------------------
@main.group()
def scenario() -> None:
    """Run YAML scenario scripts end to end."""


def _run_scenarios(files, bank_url, platform_url, keep, as_json, keep_going) -> int:
    from scenarios import runner, spec

    if bool(bank_url) != bool(platform_url):
        raise click.ClickException("give both --bank-url and --platform-url, or neither")
    results = []
    echo = (lambda line: None) if as_json else click.echo
    for path in files:
        try:
            results.append(runner.run_file(path, bank_url=bank_url, platform_url=platform_url, keep=keep,
                                           echo=echo, keep_going=keep_going,
                                           sim_token=_operator_token()))
        except spec.ScenarioError as exc:
            if as_json:
                results.append(runner.RunResult(str(path), "", error=str(exc)))
            else:
                click.echo(f"✗ {exc}", err=True)
                results.append(runner.RunResult(str(path), "", error=str(exc)))
    failed = [r for r in results if not r.ok]
    if as_json:
        _echo_json({"ok": not failed, "scenarios": [r.as_dict() for r in results]})
    else:
        click.echo(f"{len(results) - len(failed)} scenario(s) passed, {len(failed)} failed")
    return 1 if failed else 0


@scenario.command("run")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--bank-url", envvar="WANXIN_BANK_URL", help="Run against this bank instead of starting one.")
@click.option("--platform-url", envvar="WANXIN_PLATFORM_URL", help="Run against this platform instead of starting one.")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), help="Keep the SQLite files in this directory.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of progress lines.")
@click.option("--keep-going", is_flag=True, help="Continue after a failed step.")
@sim_token_option
def scenario_run(files, bank_url, platform_url, keep, as_json, keep_going) -> None:
    """Run scenario FILES; exit 0 only if every step of every file passed."""
    sys.exit(_run_scenarios(files, bank_url, platform_url, keep, as_json, keep_going))


@scenario.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def scenario_validate(files) -> None:
    """Check scenario FILES without running them."""
    from scenarios import spec

    bad = 0
    for path in files:
        try:
            s = spec.load(path)
            click.echo(f"✓ {path}: {s.name} ({len(s.steps)} steps, {len(s.actors)} actors)")
        except spec.ScenarioError as exc:
            bad += 1
            click.echo(f"✗ {exc}", err=True)
    sys.exit(1 if bad else 0)


@main.command()
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path), help="Keep the SQLite files in this directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def demo(keep, as_json) -> None:
    """The main job: the full-lifecycle scenario on embedded SQLite, then the
    accounts table and the ledger / reconciliation verdict."""
    from importlib import resources

    from scenarios import runner, spec

    path = resources.files("scenarios").joinpath("full_lifecycle.yaml")
    captured: dict = {}

    def after(r: runner.Runner) -> None:
        names = {v: k for k, v in r.users.items()}
        captured["accounts"] = r.bank("GET", "/sim/accounts")
        captured["names"] = names
        captured["ledger"] = r.bank("GET", "/sim/ledger/verify")
        captured["reconciliation"] = [r.platform("POST", "/api/reconciliations",
                                                 json={"date": d, "checkBalances": d == max(r.touched_days)})
                                      for d in sorted(r.touched_days)]

    echo = (lambda line: None) if as_json else click.echo
    with resources.as_file(path) as real:
        try:
            result = runner.run_file(real, keep=keep, echo=echo, after=after)
        except spec.ScenarioError as exc:
            raise click.ClickException(str(exc)) from None
    if not captured:
        raise click.ClickException("the demo scenario did not run: " + (result.error or "see above"))
    recon = captured["reconciliation"]
    breaks = sum(len(rep["breaks"]) for rep in recon)
    verdict = {"scenario": result.ok, "ledgerSound": captured["ledger"]["sound"], "reconciledDays": len(recon),
               "breaks": breaks}
    if as_json:
        _echo_json({"result": result.as_dict(), "accounts": captured["accounts"], "verdict": verdict})
    else:
        click.echo("")
        _print_accounts(captured["accounts"], captured["names"])
        click.echo("")
        click.echo(f"ledger: {'sound (every invariant holds)' if verdict['ledgerSound'] else 'BROKEN'}")
        click.echo(f"reconciliation: {len(recon)} business day(s), {breaks} break(s)"
                   + (" - clean" if not breaks else ""))
    ok = result.ok and verdict["ledgerSound"] and not breaks
    sys.exit(0 if ok else 1)


# -- inspection -------------------------------------------------------------
def _table(headers: list[str], rows: list[list], money: set[int] = frozenset()) -> None:
    """Aligned columns; money columns right-aligned."""
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.rjust(w) if i in money else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def _print_accounts(data: dict, names: dict | None = None) -> None:
    names = names or {}
    rows = [[names.get(u["userNo"], ""), u["userNo"], u["role"], u["available"], u["frozen"], u["card"]]
            for u in data["users"]]
    _table(["name", "userNo", "role", "available", "frozen", "card"], rows, money={3, 4, 5})
    if data.get("platformAccounts"):
        click.echo("")
        _table(["account", "kind", "balance"], [[a["code"], a["kind"], a["balance"]] for a in data["platformAccounts"]],
               money={2})


class BankSource:
    """Inspection either against a running bank (HTTP) or offline on its database file."""

    def __init__(self, url: str | None, db: Path | None, offline: bool = True):
        if url and db:
            raise click.ClickException("give --bank-url or --db, not both")
        if not url and not db:
            raise click.ClickException("give --bank-url (or set WANXIN_BANK_URL)" + (" or --db" if offline else ""))
        self.url, self.db = (url or "").rstrip("/"), db
        self._conn = None

    def conn(self):
        if self._conn is None:
            import sqlite3

            import sqlite_utils

            if not self.db.exists():
                raise click.ClickException(f"{self.db} does not exist")
            database = sqlite_utils.Database(sqlite3.connect(f"file:{self.db}?mode=ro", uri=True))
            try:
                tables = database.table_names()
            except sqlite3.DatabaseError as exc:
                raise click.ClickException(f"{self.db} cannot be read: {exc}") from None
            if "accounts" not in tables:
                raise click.ClickException(f"{self.db} is not a wanxin bank database")
            database.conn.row_factory = sqlite3.Row
            self._conn = database.conn
        return self._conn

    def get(self, path: str, offline=None, **params):
        if self.db is not None:
            if offline is None:
                raise click.ClickException("this command needs a running bank (--bank-url)")
            from bank_depository.domain.errors import BankError
            try:
                return offline(self.conn())
            except BankError as exc:
                raise click.ClickException(exc.message) from None
        return _http("GET", self.url + path, params=params)

    def send(self, method: str, path: str, **kw):
        if not self.url:
            raise click.ClickException("this command changes the bank: it needs --bank-url, not --db")
        return _http(method, self.url + path, **kw)


def _http(method: str, url: str, **kw):
    import requests

    kw["headers"] = {**_operator_headers(), **kw.get("headers", {})}
    try:
        resp = requests.request(method, url, timeout=60, **kw)
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {url}: {type(exc).__name__}") from None
    try:
        body = resp.json()
    except ValueError:
        raise click.ClickException(f"{url} answered HTTP {resp.status_code} without JSON") from None
    if resp.status_code >= 400:
        err = body.get("error", {}) if isinstance(body, dict) else {}
        raise click.ClickException(f"{err.get('code', resp.status_code)}: {err.get('message', resp.text[:200])}")
    return body


def bank_options(offline: bool = True):
    def wrap(f):
        f = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(f)
        if offline:
            f = click.option("--db", type=click.Path(dir_okay=False, path_type=Path),
                             help="Read a bank database file offline instead.")(f)
        f = click.option("--bank-url", envvar="WANXIN_BANK_URL", help="The running bank [env WANXIN_BANK_URL].")(f)
        f = sim_token_option(f)
        return f
    return wrap


@main.group()
def accounts() -> None:
    """Depository accounts at the bank."""


@accounts.command("list")
@bank_options()
def accounts_list(bank_url, db=None, as_json=False) -> None:
    """Every depository account with available, frozen and card balances."""
    from bank_depository.services import inspect
    data = BankSource(bank_url, db).get("/sim/accounts", inspect.accounts)
    _echo_json(data) if as_json else _print_accounts(data)


@accounts.command("unlock")
@click.argument("user_no")
@click.option("--platform-no", default="", help="The platform, when USER_NO has accounts on several.")
@bank_options(offline=False)
def accounts_unlock(user_no, platform_no, bank_url, as_json=False) -> None:
    """Lift a trade-password lock (after 5 wrong attempts) on a running bank."""
    from urllib.parse import quote

    bank = BankSource(bank_url, None, offline=False)
    data = bank.send("POST", f"/sim/users/{quote(user_no, safe='')}/unlock",
                     params={"platformNo": platform_no} if platform_no else None)
    if as_json:
        return _echo_json(data)
    click.echo(f"{data['userNo']} on {data['platformNo']}: trade password "
               + ("unlocked" if data["wasLocked"] else f"was not locked ({data['failures']} wrong attempt(s) cleared)"))


@accounts.command("show")
@click.argument("user_no")
@bank_options()
def accounts_show(user_no, bank_url, db=None, as_json=False) -> None:
    """One account: balances, holds and recent ledger postings."""
    from bank_depository.services import inspect
    data = BankSource(bank_url, db).get(f"/sim/accounts/{user_no}", lambda c: inspect.account(c, user_no))
    if as_json:
        return _echo_json(data)
    click.echo(f"{data['userNo']}  role {data['role']}  {data['fullname']}  card {data['cardNumber']}")
    _table(["available", "frozen", "card"], [[data["available"], data["frozen"], data["card"]]], money={0, 1, 2})
    click.echo("\nholds:")
    _table(["requestNo", "bizType", "projectNo", "amount", "remaining", "state"],
           [[h["requestNo"], h["bizType"], h["projectNo"], h["amount"], h["remaining"], h["state"]] for h in data["holds"]],
           money={3, 4})
    click.echo("\nrecent postings:")
    _table(["at", "service", "requestNo", "account", "amount"],
           [[e["at"][:19], e["service"], e["requestNo"], e["account"], e["amount"]] for e in data["entries"]], money={4})


@main.group()
def projects() -> None:
    """Projects (标的) registered at the bank."""


@projects.command("list")
@bank_options()
def projects_list(bank_url, db=None, as_json=False) -> None:
    """Every project with its amount, tendered total and status."""
    from bank_depository.services import inspect
    data = BankSource(bank_url, db).get("/sim/projects", inspect.projects)
    if as_json:
        return _echo_json(data)
    _table(["projectNo", "name", "borrower", "amount", "tendered", "status"],
           [[p["projectNo"], p["name"], p["userNo"], p["amount"], p["tendered"], p["status"]] for p in data], money={3, 4})


@main.group()
def notifications() -> None:
    """The bank's asynchronous notifications (outbox)."""


@notifications.command("list")
@click.option("--state", type=click.Choice(["PENDING", "DELIVERED", "DEAD", "DROPPED"]), help="Only this state.")
@bank_options()
def notifications_list(state, bank_url, db=None, as_json=False) -> None:
    """Notifications with their state and delivery attempts."""
    from bank_depository.services import inspect
    data = BankSource(bank_url, db).get("/sim/notifications", lambda c: inspect.notifications(c, state or ""),
                                        **({"state": state} if state else {}))
    if as_json:
        return _echo_json(data)
    _table(["id", "service", "requestNo", "state", "attempts", "next attempt", "last error"],
           [[n["id"], n["serviceName"], n["requestNo"], n["state"], n["attempts"], n["nextAttemptAt"][:19],
             (n["history"][-1]["error"] if n["history"] else "")] for n in data], money={4})


@notifications.command("resend")
@click.argument("notification_id", type=int)
@bank_options(offline=False)
def notifications_resend(notification_id, bank_url, as_json=False) -> None:
    """Queue notification NOTIFICATION_ID again, due now."""
    data = BankSource(bank_url, None, offline=False).send("POST", f"/sim/notifications/{notification_id}/resend")
    _echo_json(data) if as_json else click.echo(f"notification {data['id']} is {data['state']} again")


@main.group()
def ledger() -> None:
    """The bank's double-entry ledger."""


@ledger.command("verify")
@bank_options()
def ledger_verify(bank_url, db=None, as_json=False) -> None:
    """Check every ledger invariant; exit 1 if any is broken."""
    from bank_depository.services import verify
    data = BankSource(bank_url, db).get("/sim/ledger/verify", lambda c: {"problems": verify.verify(c)})
    data["sound"] = not data["problems"]
    if as_json:
        _echo_json(data)
    elif data["sound"]:
        click.echo("ledger sound: every invariant holds")
    else:
        click.echo(f"ledger BROKEN: {len(data['problems'])} problem(s)")
        _table(["invariant", "detail"], [[p["invariant"], p["detail"]] for p in data["problems"]])
    sys.exit(0 if data["sound"] else 1)


@main.group()
def clock() -> None:
    """The bank's (and optionally the platform's) simulated clock."""


@clock.command("show")
@bank_options(offline=False)
@click.option("--platform-url", envvar="WANXIN_PLATFORM_URL", help="Also show the platform's clock.")
def clock_show(bank_url, platform_url, as_json=False) -> None:
    """Print the current simulated time(s)."""
    data = {"bank": BankSource(bank_url, None, offline=False).get("/sim/clock")["now"]}
    if platform_url:
        data["platform"] = _http("GET", platform_url.rstrip("/") + "/sim/clock")["now"]
    _echo_json(data) if as_json else [click.echo(f"{k}: {v}") for k, v in data.items()]


@clock.command("advance")
@click.option("--seconds", type=click.FloatRange(0), default=0, help="Seconds to move forward.")
@click.option("--days", type=click.IntRange(0), default=0, help="Days to move forward.")
@bank_options(offline=False)
@click.option("--platform-url", envvar="WANXIN_PLATFORM_URL", help="Move the platform's clock too.")
def clock_advance(seconds, days, bank_url, platform_url, as_json=False) -> None:
    """Move the clock(s) forward (never backwards)."""
    total = seconds + days * 86400
    if total <= 0:
        raise click.ClickException("give --seconds or --days greater than 0")
    bank = BankSource(bank_url, None, offline=False)
    data = {"bank": bank.send("POST", "/sim/clock", json={"advance_seconds": total})["now"]}
    if platform_url:
        data["platform"] = _http("POST", platform_url.rstrip("/") + "/sim/clock", json={"advance_seconds": total})["now"]
    _echo_json(data) if as_json else [click.echo(f"{k}: {v}") for k, v in data.items()]


@main.group()
def faults() -> None:
    """Deterministic fault rules of the bank."""


@faults.command("list")
@bank_options(offline=False)
def faults_list(bank_url, as_json=False) -> None:
    """Rules with their counters, and the log of what fired."""
    data = BankSource(bank_url, None, offline=False).get("/sim/faults")
    if as_json:
        return _echo_json(data)
    _table(["id", "action", "matchers", "matched", "fired"],
           [[r["id"], r["action"], " ".join(f"{k}={r[k]}" for k in ("service", "bizType", "userNo", "nth", "times",
                                                                     "probability", "seed", "code", "seconds") if k in r),
             r["matched"], r["fired"]] for r in data["rules"]], money={3, 4})
    if data["log"]:
        click.echo("\nfired:")
        _table(["at", "rule", "action", "service", "requestNo"],
               [[e["fired_at"][:19], e["rule_id"], e["action"], e["service"], e["request_no"]] for e in data["log"]])


@faults.command("set")
@click.argument("rule")
@bank_options(offline=False)
def faults_set(rule, bank_url, as_json=False) -> None:
    """Add RULE, a JSON object, e.g. '{"action": "lose_response", "service": "CONFIRM_LOAN"}'."""
    try:
        parsed = json.loads(rule)
    except ValueError as exc:
        raise click.ClickException(f"RULE is not JSON: {exc}") from None
    data = BankSource(bank_url, None, offline=False).send("POST", "/sim/faults", json=parsed)
    _echo_json(data) if as_json else click.echo(f"rule {data['id']} added: {json.dumps(data, ensure_ascii=False)}")


@faults.command("clear")
@bank_options(offline=False)
def faults_clear(bank_url, as_json=False) -> None:
    """Remove every fault rule."""
    data = BankSource(bank_url, None, offline=False).send("DELETE", "/sim/faults")
    _echo_json(data) if as_json else click.echo(f"cleared {data['cleared']} rule(s)")


@main.command()
@click.option("--date", "day", help="Business date YYYY-MM-DD (default: the platform's today).")
@click.option("--platform-url", envvar="WANXIN_PLATFORM_URL", required=True,
              help="The running platform [env WANXIN_PLATFORM_URL].")
@click.option("--no-auto-resolve", is_flag=True, help="Report unsynced records as they are, without QUERY_TRANSACTION.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="The breaks as CSV.")
@sim_token_option
def reconcile(day, platform_url, no_auto_resolve, as_json, as_csv) -> None:
    """Reconcile the platform's records with the bank's check file.

    Exit status: 0 clean, 1 if breaks remain, 2 if the day could not be
    reconciled (bank away, check file refused or unverifiable)."""
    import csv as csv_mod

    if as_json and as_csv:
        raise click.UsageError("choose --json or --csv")
    body = {"autoResolve": not no_auto_resolve, **({"date": day} if day else {})}
    try:
        report = _http("POST", platform_url.rstrip("/") + "/api/reconciliations", json=body)
    except click.ClickException as exc:
        exc.exit_code = 2  # not reconciled at all: scripts must not read it as "breaks found"
        raise
    if as_json:
        _echo_json(report)
    elif as_csv:
        writer = csv_mod.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["date", "kind", "requestNo", "service", "userNo", "detail"])
        for b in report["breaks"]:
            writer.writerow([report["date"], b["kind"], b.get("requestNo", ""), b.get("service", ""),
                             b.get("userNo", ""), b.get("detail", "")])
    else:
        click.echo(f"reconciliation {report['date']}: bank {report['bank']['count']} line(s) / "
                   f"{report['bank']['totalAmount']}, platform {report['platform']['count']} / "
                   f"{report['platform']['totalAmount']}")
        if report["resolved"]:
            click.echo(f"auto-resolved with QUERY_TRANSACTION: {', '.join(report['resolved'])}")
        if report["breaks"]:
            _table(["kind", "requestNo", "service", "userNo", "detail"],
                   [[b["kind"], b.get("requestNo", ""), b.get("service", ""), b.get("userNo", ""), b.get("detail", "")]
                    for b in report["breaks"]])
        else:
            click.echo("clean: zero breaks")
    sys.exit(0 if report["clean"] else 1)


if __name__ == "__main__":  # pragma: no cover
    main()
