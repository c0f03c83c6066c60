"""The ``wanxin`` command: serve the apps, run scenarios, inspect and reconcile.

Thin by design: each command parses its options, calls one function and
prints. Errors are one line on stderr and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Collection, Optional

import click

KEY_FILES = ("bank_private.pem", "bank_public.pem", "platform_private.pem", "platform_public.pem")


def _echo_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _echo_pairs(data: dict, as_json: bool) -> None:
    if as_json:
        _echo_json(data)
    else:
        for key, value in data.items():
            click.echo(f"{key}: {value}")


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


PACKAGE = "wanxin-sandbox"  # the distribution's name in setup.cfg


def package_version() -> str:
    """The installed distribution's version; from a source tree that is not installed, setup.cfg's."""
    from importlib import metadata

    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        import configparser

        cfg = configparser.ConfigParser()
        cfg.read(Path(__file__).with_name("setup.cfg"), encoding="utf-8")
        return cfg.get("metadata", "version", fallback="unknown") + " (not installed)"


def _print_version(ctx: click.Context, _param, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"wanxin {package_version()}")
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and exit.")
@click.pass_context
def main(ctx: click.Context) -> None:
    """wanxin-sandbox: a bank depository (银行存管) simulator and P2P test harness.

    Output is coloured only on a terminal, and never when NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        ctx.color = False  # every command below strips styles from what it prints


# -- colour: marks green or red on a terminal; click strips the styles elsewhere ----------------
_MARK = re.compile(r"^(\s*(?:\d+/\d+ )?)([✓✗])(?= )")
_VERDICT = re.compile(r"^(\s*)(PASSED|FAILED)(?=:)")


def _paint(line: str) -> str:
    """A progress line with its leading ✓/✗ (or PASSED/FAILED verdict) in green or red."""
    for pattern in (_MARK, _VERDICT):
        m = pattern.match(line)
        if m:
            good = m.group(2) in ("✓", "PASSED")
            return m.group(1) + click.style(m.group(2), fg="green" if good else "red",
                                              bold=None if good else True) + line[m.end():]
    return line


def _say(line: str, err: bool = False) -> None:
    click.echo(_paint(line), err=err)


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
    from bank_depository.protocol import private_file
    from bank_depository.protocol.signing import generate_key_pair

    existing = [name for name in KEY_FILES if (directory / name).exists()]
    if existing and not force:
        raise click.ClickException(f"{directory / existing[0]} exists; use --force to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    for side in ("bank", "platform"):
        private_pem, public_pem = generate_key_pair(bits)
        private_file.write(directory / f"{side}_private.pem", private_pem)  # 0600 from the first byte
        (directory / f"{side}_public.pem").write_bytes(public_pem)
    click.echo(f"wrote {', '.join(KEY_FILES)} to {directory}")


# -- serving limits, shared by both serve commands ------------------------------
#: Flask's MAX_CONTENT_LENGTH default for both apps (bank_depository.app.DEFAULT_MAX_BODY).
DEFAULT_MAX_BODY = 1024 * 1024
MAX_BODY_OPTION = click.option(
    "--max-body", type=click.IntRange(1024, 1024 ** 3), default=DEFAULT_MAX_BODY, show_default=True,
    help="Largest request body in bytes; a larger one is answered 413 without being read (MAX_CONTENT_LENGTH).")
READ_TIMEOUT_OPTION = click.option(
    "--read-timeout", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True,
    help="Seconds a request has to arrive whole (headers and body); a stalled client is disconnected.")


# -- bank -------------------------------------------------------------------
@main.group()
def bank() -> None:
    """The bank depository simulator."""


def bank_config(db: Path, keys_dir: Path, platform_no: str, notify_url: str, profile: str,
                algorithm: str | None, password_iterations: int, frozen_clock: bool,
                context_path: str = "/wanxindepository", platform_specs: tuple = (),
                shorthand: bool = True) -> dict:
    """The bank's configuration: the shorthand platform (``--platform-no`` with
    ``--keys DIR/platform_public.pem``) unless ``shorthand`` is False, then every ``--platform`` spec."""
    from bank_depository import config
    from bank_depository.protocol.keyfiles import MissingKeyFile
    from bank_depository.services.platforms import PlatformSpecError, parse_spec

    from bank_depository.protocol import profiles

    weak = profiles.get(profile).allow_weak_keys
    if (keys_dir / "bank_private.pem").exists():
        _check_key_file(keys_dir / "bank_private.pem", private=True, allow_weak=weak)
    if shorthand and (keys_dir / "platform_public.pem").exists():
        _check_key_file(keys_dir / "platform_public.pem", private=False, allow_weak=weak)
    if notify_url:
        from bank_depository.services.context import notify_url_problem

        problem = notify_url_problem(notify_url)
        if problem:
            raise click.ClickException(f"--notify-url {notify_url!r}: {problem}")
    platforms: list[dict] = []
    if shorthand:
        platforms.append({"platform_no": platform_no, "notify_url": notify_url, "profile": profile,
                          "algorithm": algorithm})
    for spec in platform_specs:
        try:
            parsed = parse_spec(spec)
        except PlatformSpecError as exc:
            raise click.ClickException(str(exc)) from None
        if parsed["platform_no"] in {p["platform_no"] for p in platforms}:
            raise click.ClickException(f"platform {parsed['platform_no']} is given twice")
        platforms.append(parsed)
    try:
        return config.bank_config(
            db, keys_dir=keys_dir, platforms=platforms,
            PASSWORD_ITERATIONS=password_iterations, CLOCK_FROZEN=frozen_clock, DISPATCHER_THREAD=True,
            LEGACY_CONTEXT_PATH=context_path)
    except MissingKeyFile as exc:
        raise click.ClickException(str(exc)) from None


def _check_key_file(path: Path, *, private: bool, allow_weak: bool = False) -> None:
    """A key file that cannot be used is named in the error."""
    from bank_depository.protocol import signing

    try:
        text = path.read_text(encoding="utf-8")
        (signing.load_private_key if private else signing.load_public_key)(text, allow_weak=allow_weak)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise click.ClickException(f"{path}: {exc}") from None


def _serve(factory, **kw) -> None:
    from serving import BindError, serve

    try:
        serve(factory, **kw)
    except BindError as exc:
        raise click.ClickException(str(exc)) from None


@bank.command("serve")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=Path("bank.sqlite"),
              show_default=True, help="SQLite database file (created if missing).")
@click.option("--keys", "keys_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("keys"),
              show_default=True, help="Directory with bank_private.pem and platform_public.pem.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=55010, show_default=True,
              help="Port to bind; 0 picks a free port and prints it.")
@click.option("--platform", "platform_specs", multiple=True, metavar="SPEC",
              help="A platform to trust, repeatable: 'no=acme,key=PATH,notify=URL[,profile=modern|legacy]"
                   "[,algorithm=SHA256withRSA|SHA1withRSA][,name=TEXT]' (key: PEM, PKCS#1 or bare Base64 DER public "
                   "key). With --platform, the --platform-no shorthand platform is added only if --platform-no is "
                   "given explicitly.")
@click.option("--platform-no", default="wanxinp2p", show_default=True,
              help="Shorthand for one platform whose key is --keys DIR/platform_public.pem.")
@click.option("--notify-url", default="",
              help="The shorthand platform's notify URL: where the bank POSTs notifications "
                   "(legacy: GET {notify-url}gateway/?…).")
@click.option("--profile", type=click.Choice(["modern", "legacy"]), default="modern", show_default=True,
              help="Wire profile of the shorthand platform (legacy: the original Java depository's wire).")
@click.option("--context-path", default="/wanxindepository", show_default=True,
              help="Where the legacy profile's routes live (/service, /gateway, /trans/*, /balance-details …).")
@click.option("--algorithm", type=click.Choice(["SHA256withRSA", "SHA1withRSA"]), default=None,
              help="Signature hash of the shorthand platform (default: SHA256withRSA; SHA1withRSA for legacy).")
@click.option("--workers", type=click.IntRange(1, 64), default=4, show_default=True, help="Worker processes.")
@click.option("--password-iterations", type=click.IntRange(1, 10_000_000), default=120_000, show_default=True,
              help="PBKDF2 work factor of trade passwords.")
@click.option("--threads", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Threads per worker; one thread in more workers measured fastest (bench/bank_direct.py).")
@click.option("--frozen-clock", is_flag=True, help="Stop the bank clock (it moves only via /sim/clock).")
@click.option("--quiet", is_flag=True, help="No access-log line per protocol request on stderr.")
@click.option("--sim-token", envvar="WANXIN_SIM_TOKEN", default=None,
              help="The operator credential for /sim (default: generated once and kept in <db>.sim-token, mode 0600) "
                   "[env WANXIN_SIM_TOKEN].")
@MAX_BODY_OPTION
@READ_TIMEOUT_OPTION
@click.pass_context
def bank_serve(cctx, db, keys_dir, host, port, platform_specs, platform_no, notify_url, profile, context_path,
               algorithm, workers, threads, password_iterations, frozen_clock, quiet, sim_token, max_body,
               read_timeout) -> None:
    """Serve the bank on gunicorn worker processes with an embedded SQLite file.

    Every platform registered before (``wanxin platforms add``) is served too."""
    from click.core import ParameterSource

    from bank_depository.app import create_app

    shorthand = not platform_specs or cctx.get_parameter_source("platform_no") != ParameterSource.DEFAULT
    config = bank_config(db, keys_dir, platform_no, notify_url, profile, algorithm, password_iterations,
                         frozen_clock, context_path, platform_specs, shorthand)
    config["ACCESS_LOG"] = not quiet
    if sim_token:
        config["SIM_TOKEN"] = sim_token
    config["MAX_CONTENT_LENGTH"] = max_body
    try:
        check = create_app({**config, "DISPATCHER_THREAD": False})  # fail fast on bad keys, create the schema
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    served = sorted(check.extensions["wanxin.bank"].refresh_platforms().values(), key=lambda p: p.platform_no)
    check.extensions["wanxin.bank"].database.close()  # no SQLite handle may cross gunicorn's fork
    config["SIM_TOKEN"] = check.config["SIM_TOKEN"]  # every worker checks the same credential

    from serving import warn_if_exposed

    warn_if_exposed(host, "bank")

    def ready(h, p):
        names = ", ".join(f"{x.platform_no} ({x.profile.name})" for x in served)
        click.echo(f"bank listening on http://{h}:{p}  (db {db}, platforms {names})", err=False)
        if sim_token:
            from_env = cctx.get_parameter_source("sim_token") == click.core.ParameterSource.ENVIRONMENT
            given = "WANXIN_SIM_TOKEN" if from_env else "the --sim-token given"
            click.echo(f"operator credential: {given} (send 'Authorization: Bearer <token>' to /sim)")
        else:
            from bank_depository.protocol import operator
            click.echo(f"operator credential for /sim: {operator.token_file(db)} (WANXIN_SIM_TOKEN=$(cat "
                       f"{operator.token_file(db)}))")
        for x in served:
            if x.profile.serves_context_routes:
                click.echo(f"{x.profile.name} wire for {x.platform_no}: "
                           f"http://{h}:{p}{x.profile.wire_path(context_path)}/service and /gateway")
        sys.stdout.flush()

    _serve(lambda: create_app(config), host=host, port=port, workers=workers, threads=threads, on_ready=ready,
           read_timeout=read_timeout)


@bank.command("openapi")
def bank_openapi() -> None:
    """Print the bank's OpenAPI 3.1 document (what GET /openapi.json serves)."""
    from bank_depository.http.openapi import document

    _echo_json(document())


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
@click.option("--public-url", default="",
              help="How the bank and browsers reach this platform (default: the bound address).")
@click.option("--platform-no", default="wanxinp2p", show_default=True, help="This platform's number at the bank.")
@click.option("--bank-profile", type=click.Choice(["modern", "legacy"]), default="modern", show_default=True,
              help="The bank's wire (legacy: the original Java depository's, under --bank-context-path).")
@click.option("--bank-context-path", default="/wanxindepository", show_default=True,
              help="Where a legacy bank serves /service and /gateway.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Worker processes.")
@MAX_BODY_OPTION
@READ_TIMEOUT_OPTION
@click.option("--sim-token", "sim_token", default=None,
              help="The operator credential for the platform's API (default: WANXIN_SIM_TOKEN, else generated once "
                   "and kept in <db>.sim-token, mode 0600). Give the bank's token to open both with one.")
def platform_serve(db, keys_dir, host, port, bank_url, public_url, platform_no, bank_profile, bank_context_path,
                   workers, max_body, read_timeout, sim_token) -> None:
    """Serve the platform on gunicorn worker processes; prints the notify URL for the bank."""
    from bank_depository.protocol import profiles
    from bank_depository.protocol.keyfiles import MissingKeyFile
    from p2p_platform.app import create_app
    from bank_depository.protocol import operator
    from p2p_platform.config import platform_config
    from serving import warn_if_exposed

    for name in ("platform_private.pem", "bank_public.pem"):
        if (keys_dir / name).exists():
            _check_key_file(keys_dir / name, private="private" in name,
                            allow_weak=profiles.get(bank_profile).allow_weak_keys)
    try:
        config = platform_config(db, keys_dir=keys_dir, bank_url=bank_url, PLATFORM_NO=platform_no,
                                 PUBLIC_URL=public_url, DAILY_JOB_THREAD=True, BANK_PROFILE=bank_profile,
                                 BANK_CONTEXT_PATH=bank_context_path,
                                 MAX_CONTENT_LENGTH=max_body)
    except MissingKeyFile as exc:
        raise click.ClickException(str(exc)) from None
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
        click.echo(f"notify URL for the bank: {bound['url']}{profiles.get(bank_profile).notify_path}")
        given = "the --sim-token given" if sim_token else "WANXIN_SIM_TOKEN"
        click.echo("operator credential for /api and /sim: " + (given if token else str(operator.token_file(db))))
        sys.stdout.flush()

    _serve(lambda: create_app({**config, "PUBLIC_URL": bound.get("url", public_url)}), host=host, port=port,
           workers=workers, on_ready=ready, read_timeout=read_timeout)


# -- scenarios and the demo -----------------------------------------------------
@main.group()
def scenario() -> None:
    """Run YAML scenario scripts end to end."""


def _parse_vars(pairs) -> dict:
    from scenarios import templating

    try:
        return templating.parse_vars(pairs)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


#: Exit status of ``scenario run`` and ``scenario validate``.
EXIT_PASSED, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
EXIT_STATUS_HELP = ("Exit status: 0 when every scenario passed, 1 when a run failed, 2 when a file is invalid "
                    "(missing, unreadable, not YAML or not a valid scenario) or the options are (a bad --platform, "
                    "--bank-url without --platform-url for the built-in platform).")


def _load_all(files, variables, report: bool = True) -> tuple[list, list]:
    """Every file validated before anything runs: (scenarios, invalid files as (path, ScenarioError));
    with ``report`` each problem is printed on stderr."""
    from scenarios import spec

    loaded, invalid = [], []
    for path in files:
        try:
            loaded.append(spec.load(path, variables=variables))
        except spec.ScenarioError as exc:
            invalid.append((path, exc))
            if report:
                for problem in exc.problems:
                    _say(f"✗ {problem}", err=True)
    return loaded, invalid


class _ScenarioUsage(click.ClickException):
    """A ``scenario run`` that cannot start as asked (bad options): exit 2, never 1 ("a run failed")."""
    exit_code = EXIT_INVALID


def _warn_unused_vars(variables, loaded) -> None:
    """A ``--var`` that no file declares or uses is most likely a typo: the file's default would run instead."""
    from scenarios import templating

    uses = set().union(*(s.uses for s in loaded)) if loaded else set()
    for name in sorted(set(variables or {}) - uses):
        _say(f"warning: --var {name}: no scenario file given declares or uses it"
             f"{templating.did_you_mean(name, sorted(uses))}", err=True)


def _scenario_platforms(specs) -> list[dict] | None:
    from bank_depository.services.platforms import PlatformSpecError, parse_spec

    if not specs:
        return None
    try:
        return [parse_spec(spec) for spec in specs]
    except PlatformSpecError as exc:
        raise _ScenarioUsage(str(exc)) from None


def _run_scenarios(files, bank_url, platform_url, keep, as_json, keep_going, variables=None,
                   platforms=None, verbose: int = 0) -> int:
    from scenarios import runner, spec

    loaded, invalid = _load_all(files, variables, report=not as_json)
    if not as_json:
        _warn_unused_vars(variables, loaded)
    if invalid:  # nothing runs: every problem of every file is reported first
        if as_json:
            _echo_json({"ok": False, "scenarios": [runner.RunResult(str(path), "", error=str(exc)).as_dict()
                                                   for path, exc in invalid]})
        else:
            click.echo(f"{len(invalid)} of {len(files)} scenario file(s) invalid; nothing ran")
        return EXIT_INVALID
    if bool(bank_url) != bool(platform_url) and not (bank_url and all(s.platform == "external" for s in loaded)):
        from_env = [f"{env} is set" for param, env in (("bank_url", "WANXIN_BANK_URL"),
                                                         ("platform_url", "WANXIN_PLATFORM_URL"))
                    if _from_environment(param)]
        raise _ScenarioUsage("give both --bank-url and --platform-url, or neither"
                             " (a scenario with platform: external needs only --bank-url)"
                             + (f"; {' and '.join(from_env)} in the environment" if from_env else ""))
    builtin = [str(s.path) for s in loaded if s.platform != "external"]
    if platforms and builtin:
        raise _ScenarioUsage(f"--platform is for scenarios with platform: external; {', '.join(builtin)} "
                             "drive(s) the built-in platform")
    results = []
    echo = (lambda line: None) if as_json else _say
    for path in files:
        try:
            results.append(runner.run_file(path, bank_url=bank_url, platform_url=platform_url, keep=keep,
                                           echo=echo, keep_going=keep_going,
                                           sim_token=_operator_token(), variables=variables,
                                           platforms=platforms, verbose=verbose))
        except spec.ScenarioError as exc:  # the run could not start (e.g. --keep holds an earlier run)
            if not as_json:
                for problem in exc.problems:
                    _say(f"✗ {problem}", err=True)
            results.append(runner.RunResult(str(path), "", error=str(exc)))
    failed = [r for r in results if not r.ok]
    if as_json:
        _echo_json({"ok": not failed, "scenarios": [r.as_dict() for r in results]})
    else:
        click.echo(f"{len(results) - len(failed)} scenario(s) passed, {len(failed)} failed")
    return EXIT_FAILED if failed else EXIT_PASSED


@scenario.command("run", epilog=EXIT_STATUS_HELP)
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--bank-url", envvar="WANXIN_BANK_URL",
              help="Run against this bank instead of starting one [env WANXIN_BANK_URL].")
@click.option("--platform-url", envvar="WANXIN_PLATFORM_URL",
              help="Run against this built-in platform instead of starting one; with platform: external, the base "
                   "of http steps' relative urls [env WANXIN_PLATFORM_URL].")
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the SQLite files in this directory.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of progress lines.")
@click.option("--keep-going", is_flag=True, help="Continue after a failed step.")
@click.option("-v", "--verbose", count=True,
              help="-v: print every HTTP exchange behind a step (method, URL, status, ms) under it; "
                   "-vv: with the request and response bodies (first 2 KB).")
@click.option("--var", "var_pairs", multiple=True, metavar="NAME=VALUE",
              help="Set the scenario variable NAME (over the file's vars:); repeatable.")
@click.option("--platform", "platform_specs", multiple=True, metavar="SPEC",
              help="For platform: external with the bank in process: a platform the bank trusts, repeatable, as "
                   "'wanxin bank serve --platform' takes it (no=acme,key=PATH,notify=URL[,…]).")
@sim_token_option
def scenario_run(files, bank_url, platform_url, keep, as_json, keep_going, verbose, var_pairs,
                 platform_specs) -> None:
    """Run scenario FILES; exit 0 only if every step of every file passed.

    Every file is validated first: if any is invalid, each problem of each file is printed and nothing runs."""
    sys.exit(_run_scenarios(files, bank_url, platform_url, keep, as_json, keep_going, _parse_vars(var_pairs),
                            _scenario_platforms(platform_specs), verbose))


@scenario.command("schema")
def scenario_schema() -> None:
    """Print a JSON Schema of the scenario format (for an editor's YAML language server)."""
    from scenarios import schema

    click.echo(json.dumps(schema.schema(), indent=2, ensure_ascii=False))


@scenario.command("validate", epilog="Exit status: 0 when every file is valid, 2 when any is invalid (missing, "
                                     "unreadable, not YAML or not a valid scenario).")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--var", "var_pairs", multiple=True, metavar="NAME=VALUE",
              help="Set the scenario variable NAME (over the file's vars:); repeatable.")
def scenario_validate(files, var_pairs) -> None:
    """Check scenario FILES without running them: every problem of every file, in one pass."""
    variables = _parse_vars(var_pairs)
    loaded, invalid = _load_all(files, variables)
    _warn_unused_vars(variables, loaded)
    for s in loaded:
        steps, actors = len(s.steps), len(s.actors)
        _say(f"✓ {s.path}: {s.name} ({steps} step{'s' * (steps != 1)}, {actors} actor{'s' * (actors != 1)})")
    sys.exit(EXIT_INVALID if invalid else EXIT_PASSED)


@main.command()
@click.option("--keep", type=click.Path(file_okay=False, path_type=Path),
              help="Keep the SQLite files in this directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--serve", is_flag=True,
              help="Then keep both apps up, printing the console URL, its credential and the platform URL, "
                   "until Ctrl-C.")
def demo(keep, as_json, serve) -> None:
    """The main job: the full-lifecycle scenario on embedded SQLite, then the
    accounts table and the ledger / reconciliation verdict."""
    from importlib import resources

    from scenarios import runner, spec

    if serve and as_json:
        raise click.ClickException("--serve prints where to look around; it does not combine with --json")

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
        if serve and r.sandbox is not None:
            _print_demo(captured)
            _serve_until_interrupt(r.sandbox)

    echo = (lambda line: None) if as_json else _say
    with resources.as_file(path) as real:
        try:
            result = runner.run_file(real, keep=keep, echo=echo, after=after)
        except spec.ScenarioError as exc:
            raise click.ClickException(str(exc)) from None
    if not captured:
        raise click.ClickException("the demo scenario did not run: " + (result.error or "see above"))
    verdict = _demo_verdict(captured, result.ok)
    if as_json:
        _echo_json({"result": result.as_dict(), "accounts": captured["accounts"], "verdict": verdict})
    elif not serve:
        _print_demo(captured)
        click.echo("")
        click.echo("next: wanxin demo --serve      keep both apps up and look around the bank's console and pages")
        click.echo("      wanxin demo --keep DIR   keep the SQLite files (then wanxin accounts list --db "
                   "DIR/full_lifecycle/bank.sqlite)")
    ok = result.ok and verdict["ledgerSound"] and not verdict["breaks"]
    sys.exit(0 if ok else 1)


def _demo_verdict(captured: dict, scenario_ok: bool) -> dict:
    recon = captured["reconciliation"]
    return {"scenario": scenario_ok, "ledgerSound": captured["ledger"]["sound"], "reconciledDays": len(recon),
            "breaks": sum(len(rep["breaks"]) for rep in recon)}


def _print_demo(captured: dict) -> None:
    verdict = _demo_verdict(captured, True)
    click.echo("")
    _print_accounts(captured["accounts"], captured["names"])
    click.echo("")
    click.echo(f"ledger: {'sound (every invariant holds)' if verdict['ledgerSound'] else 'BROKEN'}")
    click.echo(f"reconciliation: {verdict['reconciledDays']} business day(s), {verdict['breaks']} break(s)"
               + (" - clean" if not verdict["breaks"] else ""))


def _serve_until_interrupt(sandbox) -> None:
    """Keep the demo's apps up (notifications delivered in the background) until Ctrl-C."""
    import threading

    sandbox.dispatcher.start()
    click.echo("")
    click.echo("both apps stay up until Ctrl-C:")
    click.echo(f"  console:    {sandbox.bank_url}/console")
    click.echo(f"  credential: {sandbox.sim_token}")
    click.echo(f"  platform:   {sandbox.platform_url}/api/users")
    click.echo("  (paste the credential into the console's sign-in form; scripts send 'Authorization: Bearer <it>')")
    sys.stdout.flush()
    idle = threading.Event()
    try:
        while not idle.wait(3600):
            pass
    except KeyboardInterrupt:
        click.echo("stopped")


# -- inspection -------------------------------------------------------------
_RULE_MATCHERS = ("service", "bizType", "userNo", "nth", "times", "probability", "seed", "code", "seconds")


def _table(headers: list[str], rows: list[list], money: Collection[int] = frozenset()) -> None:
    """Aligned columns; money columns right-aligned."""
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        line = "  ".join(c.rjust(w) if i in money else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
        click.echo(line.rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def _print_accounts(data: dict, names: dict | None = None) -> None:
    names = names or {}
    # name: the scenario's actor when there is one (the demo), else the account's fullname at the bank
    rows = [[names.get(u["userNo"]) or u.get("fullname", ""), u["userNo"], u["role"], u["available"], u["frozen"],
             u["card"]] for u in data["users"]]
    _table(["name", "userNo", "role", "available", "frozen", "card"], rows, money={3, 4, 5})
    if data.get("platformAccounts"):
        click.echo("")
        _table(["account", "kind", "balance"], [[a["code"], a["kind"], a["balance"]] for a in data["platformAccounts"]],
               money={2})


class BankSource:
    """Inspection either against a running bank (HTTP) or offline on its database file."""

    def __init__(self, url: str | None, db: Path | None, offline: bool = True):
        if url and db and _from_environment("bank_url"):
            url = None  # an explicit --db beats an exported WANXIN_BANK_URL
        if url and db:
            raise click.ClickException("give --bank-url or --db, not both")
        if not url and not db:
            raise click.ClickException("give --bank-url (or set WANXIN_BANK_URL)" + (" or --db" if offline else ""))
        self.url, self.db = (url or "").rstrip("/"), db
        self._conn: Optional[sqlite3.Connection] = None

    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            import sqlite_utils

            if self.db is None or not self.db.exists():
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


def _from_environment(param: str) -> bool:
    """True when the current command's ``param`` came from its environment variable, not a flag."""
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.get_parameter_source(param) == ParameterSource.ENVIRONMENT


def _http(method: str, url: str, **kw):
    """One JSON call with the operator credential; every failure becomes a one-line ClickException."""
    import requests

    from bank_depository.client import SimClient, SimError

    try:
        return SimClient("", _operator_token(), timeout=60).request(method, url, **kw)
    except requests.RequestException as exc:
        raise click.ClickException(_unreachable(url, exc)) from None
    except SimError as exc:
        if not exc.json_body:
            raise click.ClickException(f"{url} answered HTTP {exc.status} without JSON") from None
        if exc.status == 404 and str(exc.message).startswith("The requested URL was not found"):
            raise click.ClickException(f"{url}: no such route (HTTP 404); is that the right server's URL"
                                       " (the bank's for --bank-url, the built-in platform's for --platform-url)?"
                                       ) from None
        raise click.ClickException(f"{exc.code}: {exc.message}") from None


def _unreachable(url: str, exc: Exception) -> str:
    """One line for a server that did not answer: which URL and why (not just the exception's class)."""
    from bank_depository.client import why_unreachable
    return f"cannot reach {url}: {why_unreachable(exc)}"


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


@bank.command("reset")
@click.option("--platform-no", default=None, help="Reset only this platform (default: every platform and the clock).")
@bank_options(offline=False)
def bank_reset(platform_no, bank_url, as_json=False) -> None:
    """Remove a platform's (or every platform's) users, cards, projects, requests, notifications, fault
    rules and check-file rows; a full reset also puts the clock back at its start. The ledger stays sound:
    the removed entries go whole. Registered platforms stay registered."""
    body = {"platformNo": platform_no} if platform_no else {}
    data = BankSource(bank_url, None, offline=False).send("POST", "/sim/reset", json=body)
    if as_json:
        return _echo_json(data)
    removed = ", ".join(f"{n} {table}" for table, n in sorted(data["removed"].items())) or "nothing"
    click.echo(f"reset {platform_no or 'every platform'}: removed {removed}; clock {data['now']}")


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
           [[h["requestNo"], h["bizType"], h["projectNo"], h["amount"], h["remaining"], h["state"]]
            for h in data["holds"]],
           money={3, 4})
    click.echo("\nrecent postings:")
    _table(["at", "service", "requestNo", "account", "amount"],
           [[e["at"][:19], e["service"], e["requestNo"], e["account"], e["amount"]] for e in data["entries"]],
           money={4})


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
           [[p["projectNo"], p["name"], p["userNo"], p["amount"], p["tendered"], p["status"]] for p in data],
           money={3, 4})


@main.group()
def plans() -> None:
    """The built-in platform's repayment and receivable plans (what to derive expectations from)."""


def _find_project(base: str, key: str) -> dict:
    """The built-in platform's project whose projectNo, else whose name, is ``key``."""
    import difflib

    listed = _http("GET", base + "/api/projects")
    match = [p for p in listed if p["projectNo"] == key] or [p for p in listed if p["name"] == key]
    if len(match) > 1:
        raise click.ClickException(f"{len(match)} projects are named {key!r}: "
                                   f"{', '.join(p['projectNo'] for p in match)}; give the projectNo")
    if not match:
        near = difflib.get_close_matches(key, [p["name"] for p in listed] + [p["projectNo"] for p in listed], 1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        raise click.ClickException(f"the platform has no project {key!r} (projectNo or name){hint}")
    from urllib.parse import quote

    return _http("GET", base + f"/api/projects/{quote(match[0]['projectNo'], safe='')}")


@plans.command("show")
@click.argument("project")
@click.option("--platform-url", envvar="WANXIN_PLATFORM_URL",
              help="The running built-in platform [env WANXIN_PLATFORM_URL].")
@click.option("--json", "as_json", is_flag=True, help="The project and its plans as JSON (money as yuan strings).")
@sim_token_option
def plans_show(project, platform_url, as_json) -> None:
    """PROJECT's repayment plan per period (due date, principal, interest, borrower fee, total, status)
    and each investor's receivable (principal, interest, investor fee, net). PROJECT is the projectNo
    or the project's name.

    The borrower pays total = principal + interest; the borrower fee is the platform's part of that
    interest. An investor's interest is its share of the period's interest, the investor fee is taken
    from it, and net = principal + interest - investor fee reaches the investor's account."""
    from bank_depository.protocol.money import format_fen, parse_yuan

    if not platform_url:
        raise click.ClickException("give --platform-url (or set WANXIN_PLATFORM_URL): the running built-in platform")
    base = platform_url.rstrip("/")
    data = _find_project(base, project)
    names = {u["userNo"]: u.get("username", "") for u in _http("GET", base + "/api/users")}
    for plan in data["plans"]:
        for share in plan["receivables"]:
            share["username"] = names.get(share["userNo"], "")
    out = {k: data[k] for k in ("projectNo", "name", "borrower", "amount", "annualRate", "periods", "method",
                                 "status", "loanDate")} | {"plans": data["plans"]}
    if as_json:
        return _echo_json(out)
    click.echo(f"project {out['projectNo']} {out['name']!r}: {out['amount']} at {out['annualRate']} a year, "
               f"{out['periods']} period(s) {out['method']}, borrower {names.get(out['borrower'], '') or '-'} "
               f"({out['borrower']}), {out['status']}" + (f", loaned {out['loanDate']}" if out["loanDate"] else ""))
    if not out["plans"]:
        click.echo("no plans yet: they are made when the loan is confirmed")
        return

    def total(rows, key) -> str:
        return format_fen(sum(parse_yuan(r[key], allow_zero=True) for r in rows))

    rows = out["plans"]
    click.echo("\nrepayment plan (the borrower pays):")
    _table(["period", "due date", "principal", "interest", "borrower fee", "total", "status"],
           [[p["period"], p["dueDate"], p["principal"], p["interest"], p["platformFee"], p["amount"], p["status"]]
            for p in rows]
           + [["sum", "", *(total(rows, k) for k in ("principal", "interest", "platformFee", "amount")), ""]],
           money={2, 3, 4, 5})
    shares = [(p["period"], s) for p in rows for s in p["receivables"]]
    click.echo("\nreceivable plans (each investor receives):")
    _table(["period", "investor", "userNo", "principal", "interest", "investor fee", "net", "status"],
           [[period, s["username"] or "-", s["userNo"], s["principal"], s["grossInterest"], s["commission"],
             s["net"], s["status"]] for period, s in shares]
           + [["sum", "", "", *(total([s for _, s in shares], k)
                                  for k in ("principal", "grossInterest", "commission", "net")), ""]],
           money={3, 4, 5, 6})
    click.echo("(interest: the investor's share of the period's interest; net = principal + interest - investor fee)")


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
@bank_options()
@click.option("--platform-url", envvar="WANXIN_PLATFORM_URL",
              help="Also show the platform's clock [env WANXIN_PLATFORM_URL].")
def clock_show(bank_url, platform_url, db=None, as_json=False) -> None:
    """Print the current simulated time(s)."""
    from bank_depository.clock import PersistentClock, iso

    data = {"bank": BankSource(bank_url, db).get("/sim/clock",
                                                 lambda c: {"now": iso(PersistentClock(lambda: c).now())})["now"]}
    if platform_url:
        data["platform"] = _http("GET", platform_url.rstrip("/") + "/sim/clock")["now"]
    _echo_pairs(data, as_json)


@clock.command("advance")
@click.option("--seconds", type=click.FloatRange(0), default=0, help="Seconds to move forward.")
@click.option("--days", type=click.IntRange(0), default=0, help="Days to move forward.")
@bank_options(offline=False)
@click.option("--platform-url", envvar="WANXIN_PLATFORM_URL",
              help="Move the platform's clock too [env WANXIN_PLATFORM_URL].")
def clock_advance(seconds, days, bank_url, platform_url, as_json=False) -> None:
    """Move the clock(s) forward (never backwards)."""
    total = seconds + days * 86400
    if total <= 0:
        raise click.ClickException("give --seconds or --days greater than 0")
    bank = BankSource(bank_url, None, offline=False)
    platform_clock = platform_url.rstrip("/") + "/sim/clock" if platform_url else ""
    # Both sides must answer (reachable, credential accepted) before either moves: never end apart.
    bank.get("/sim/clock")
    if platform_clock:
        _http("GET", platform_clock)
    data = {"bank": bank.send("POST", "/sim/clock", json={"advance_seconds": total})["now"]}
    if platform_clock:
        try:
            data["platform"] = _http("POST", platform_clock, json={"advance_seconds": total})["now"]
        except click.ClickException as exc:
            raise click.ClickException(f"the bank moved to {data['bank']} but the platform did not: "
                                       f"{exc.message}") from None
    _echo_pairs(data, as_json)


@clock.command("set")
@click.argument("instant", metavar="DATETIME")
@bank_options(offline=False)
def clock_set(instant, bank_url, as_json=False) -> None:
    """Set the bank's clock to DATETIME (ISO 8601; no offset means China Standard Time); never backwards."""
    data = BankSource(bank_url, None, offline=False).send("POST", "/sim/clock", json={"set": instant})
    _echo_json(data) if as_json else click.echo(f"bank: {data['now']}")


@clock.command("freeze")
@bank_options(offline=False)
def clock_freeze(bank_url, as_json=False) -> None:
    """Stop the bank's clock where it stands (it then moves only by clock advance / clock set)."""
    data = BankSource(bank_url, None, offline=False).send("POST", "/sim/clock/freeze")
    _echo_json(data) if as_json else click.echo(f"bank: {data['now']} (frozen)")


@clock.command("unfreeze")
@bank_options(offline=False)
def clock_unfreeze(bank_url, as_json=False) -> None:
    """Let the bank's clock run again from where it stands."""
    data = BankSource(bank_url, None, offline=False).send("POST", "/sim/clock/unfreeze")
    _echo_json(data) if as_json else click.echo(f"bank: {data['now']} (running)")


@main.group()
def faults() -> None:
    """Deterministic fault rules of the bank."""


@faults.command("list")
@bank_options()
def faults_list(bank_url, db=None, as_json=False) -> None:
    """Rules with their counters, and the log of what fired."""
    from bank_depository.faults import FaultBook

    def offline(conn):
        book = FaultBook(lambda: conn, lambda: "")
        return {"rules": book.rules(), "log": book.log()}

    data = BankSource(bank_url, db).get("/sim/faults", offline)
    if as_json:
        return _echo_json(data)
    _table(["id", "action", "matchers", "matched", "fired"],
           [[r["id"], r["action"], " ".join(f"{k}={r[k]}" for k in _RULE_MATCHERS if k in r),
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


@faults.command("rm")
@click.argument("rule_id", metavar="ID", type=int)
@bank_options(offline=False)
def faults_rm(rule_id, bank_url, as_json=False) -> None:
    """Remove fault rule ID (what it fired stays in the log)."""
    data = BankSource(bank_url, None, offline=False).send("DELETE", f"/sim/faults/{rule_id}")
    _echo_json(data) if as_json else click.echo(f"rule {data['id']} removed")


# -- platforms ----------------------------------------------------------------------
@main.group()
def platforms() -> None:
    """The platforms the bank serves (each with its own key, platformNo, notify URL and profile)."""


@platforms.command("list")
@bank_options()
def platforms_list(bank_url, db=None, as_json=False) -> None:
    """Every registered platform with its profile, algorithm and notify URL."""
    def offline(conn):
        from bank_depository.services.context import platform_from_row
        from bank_depository.services.platforms import view
        return [view(platform_from_row(r)) for r in conn.execute("SELECT * FROM platforms ORDER BY platform_no")]

    data = BankSource(bank_url, db).get("/sim/platforms", offline)
    if as_json:
        return _echo_json(data)
    _table(["platformNo", "name", "profile", "algorithm", "key bits", "notify URL"],
           [[p["platformNo"], p["name"], p["profile"], p["algorithm"], p["keyBits"], p["notifyUrl"]] for p in data])


@platforms.command("add")
@click.argument("spec")
@bank_options(offline=False)
def platforms_add(spec, bank_url, as_json=False) -> None:
    """Register (or update) a platform on the running bank: SPEC is
    'no=acme,key=PATH,notify=URL[,profile=modern|legacy][,algorithm=SHA256withRSA|SHA1withRSA][,name=TEXT]',
    as for bank serve --platform; the key file is read here and its text sent."""
    from bank_depository.services.platforms import PlatformSpecError, parse_spec

    try:
        fields = parse_spec(spec)
    except PlatformSpecError as exc:
        raise click.ClickException(str(exc)) from None
    body = {"platformNo": fields["platform_no"], "publicKey": fields["public_key"]}
    for wire, name in (("notifyUrl", "notify_url"), ("profile", "profile"), ("algorithm", "algorithm"),
                       ("name", "name")):
        if fields.get(name):
            body[wire] = fields[name]
    source = BankSource(bank_url, None, offline=False)
    before = {p["platformNo"]: p for p in source.send("GET", "/sim/platforms")}.get(fields["platform_no"])
    data = source.send("POST", "/sim/platforms", json=body)
    if as_json:
        return _echo_json(data)
    # SPEC replaces the whole registration: what it changed is said, a profile left out included
    changed = [f"{label} {before.get(key) or '-'} → {data.get(key) or '-'}" for key, label in
               (("profile", "profile"), ("algorithm", "algorithm"), ("notifyUrl", "notify"), ("name", "name"))
               if before is not None and before.get(key) != data.get(key)]
    click.echo(f"platform {data['platformNo']} {'updated' if before else 'registered'} ({data['profile']}, "
               f"{data['algorithm']}, notify {data['notifyUrl'] or '-'})" + (f": {', '.join(changed)}" if changed
                                                                             else ""))


# -- the request log --------------------------------------------------------------------
@main.group("requests")
def requests_group() -> None:
    """The bank's request log: everything that reached /service, /gateway and /checkfile, refusals included."""


def _print_log(entries: list[dict]) -> None:
    for e in entries:
        fault = f"  fault #{e['fault']['ruleId']} {e['fault']['action']}" if e.get("fault") else ""
        click.echo(f"{e['at'][:19]}  {e['platformNo'] or '-'}  {e['serviceName'] or '-'}  {e['requestNo'] or '-'}  "
                   f"{e['respCode']}  {e['durationMs']} ms{fault}")
        if e.get("diagnosis"):
            click.echo(f"    diagnosis: {e['diagnosis']['hint']}")


@requests_group.command("list")
@click.option("--platform-no", default="", help="Only this platform's requests.")
@click.option("--refused", is_flag=True, help="Only refused requests (any code but 00000).")
@click.option("--since", default="", help="Only requests at or after this instant of the bank clock (ISO 8601).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True,
              help="At most this many (the newest).")
@click.option("--follow", is_flag=True, help="Keep printing new requests as they arrive (Ctrl-C stops).")
@click.option("--polls", type=click.IntRange(1), default=None, help="With --follow: stop after this many polls.")
@bank_options()
def requests_list(platform_no, refused, since, limit, follow, polls, bank_url, db=None, as_json=False) -> None:
    """Requests the bank received, oldest first: time, platform, service, requestNo, code, duration, fault."""
    import time

    from bank_depository.storage import request_log

    if since:
        from bank_depository.clock import ClockError, iso, parse_instant
        try:
            since = iso(parse_instant(since))
        except ClockError as exc:
            raise click.ClickException(str(exc)) from None
    source = BankSource(bank_url, db)
    params = {k: v for k, v in (("platformNo", platform_no), ("status", "refused" if refused else ""),
                                ("since", since), ("limit", str(limit))) if v}
    after, done = 0, 0
    while True:
        query = {**params, **({"after": str(after)} if after else {})}
        data = source.get("/sim/requests", lambda c, after=after: request_log.query(
            c, platform_no=platform_no, outcome="refused" if refused else "", since=since, after_id=after,
            limit=limit), **query)
        if as_json and not follow:
            return _echo_json(data)
        for entry in data:
            click.echo(json.dumps(entry, ensure_ascii=False)) if as_json else _print_log([entry])
        after = data[-1]["id"] if data else after
        done += 1
        if not follow or (polls is not None and done >= polls):
            return
        sys.stdout.flush()
        time.sleep(1.0)


@requests_group.command("show")
@click.argument("request_no")
@click.option("--platform-no", default="", help="Only this platform's request of that number.")
@bank_options()
def requests_show(request_no, platform_no, bank_url, db=None, as_json=False) -> None:
    """One requestNo: what the bank recorded (payload, answer) and every time it reached the bank."""
    from bank_depository.domain.errors import BankError
    from bank_depository.services import inspect
    from bank_depository.storage import request_log

    source = BankSource(bank_url, db)
    log = source.get("/sim/requests", lambda c: request_log.query(c, request_no=request_no, platform_no=platform_no),
                     requestNo=request_no, **({"platformNo": platform_no} if platform_no else {}))

    def offline(conn):
        try:
            return inspect.request(conn, request_no, platform_no)
        except BankError:
            return []
    try:
        recorded = source.get(f"/sim/requests/{request_no}", offline,
                              **({"platformNo": platform_no} if platform_no else {}))
    except click.ClickException:
        recorded = []
    if not recorded and not log:
        raise click.ClickException(f"no request {request_no} reached the bank")
    data = {"requestNo": request_no, "recorded": recorded, "log": log}
    if as_json:
        return _echo_json(data)
    for r in recorded:
        click.echo(f"{r['platformNo']}  {r['serviceName']}  {r['requestNo']}  status {r['status']}  "
                   f"{r['respCode'] or '(waiting)'}  created {r['createdAt'][:19]}")
        click.echo(f"    payload:  {json.dumps(r['payload'], ensure_ascii=False)}")
        click.echo(f"    answered: {json.dumps(r['respData'], ensure_ascii=False, default=str)}")
    if not recorded:
        click.echo(f"{request_no}: nothing recorded (every attempt was refused before it ran)")
    click.echo("\nreached the bank:")
    _print_log(log)


@main.command()
@click.option("--date", "day",
              help="Business date YYYY-MM-DD (default: the platform's, or with --records the bank's, today).")
@click.option("--platform-url", envvar="WANXIN_PLATFORM_URL",
              help="The running built-in platform [env WANXIN_PLATFORM_URL].")
@click.option("--bank-url", envvar="WANXIN_BANK_URL", help="With --records: the running bank [env WANXIN_BANK_URL].")
@click.option("--platform-no", help="With --records: the platform whose check file to match.")
@click.option("--records", type=click.Path(dir_okay=False, path_type=Path),
              help="Any platform's own export of the day (CSV with a header, or a JSON list): requestNo, "
                   "serviceName, bizType, userNo, amount, commission, status (SUCCESS|FAILURE|PROCESSING).")
@click.option("--no-auto-resolve", is_flag=True, help="Report unsynced records as they are, without QUERY_TRANSACTION.")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="The breaks as CSV.")
@sim_token_option
def reconcile(day, platform_url, bank_url, platform_no, records, no_auto_resolve, as_json, as_csv) -> None:
    """Reconcile a platform's records with the bank's check file.

    The built-in platform: --platform-url. Any platform: --bank-url --platform-no --records FILE.
    Exit status: 0 clean, 1 if breaks remain, 2 if the day could not be
    reconciled (bank away, check file refused or unverifiable, unreadable records)."""
    if as_json and as_csv:
        raise click.UsageError("choose --json or --csv")
    if records is not None:
        sys.exit(_reconcile_records(day, bank_url, platform_no, records, as_json, as_csv))
    if not platform_url:
        raise click.UsageError("give --platform-url (the built-in platform), or --bank-url, --platform-no and "
                               "--records (any platform)")
    import csv as csv_mod

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




class _Unreconciled(click.ClickException):
    exit_code = 2


def _reconcile_records(day, bank_url, platform_no, records: Path, as_json: bool, as_csv: bool) -> int:
    """Any platform's export against the bank's check file (read through /sim/checkfile with the credential)."""
    import csv as csv_mod

    import requests

    from bank_depository.domain import reconciliation

    if not bank_url or not platform_no:
        raise click.UsageError("--records needs --bank-url and --platform-no")
    try:
        text = records.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Unreconciled(f"cannot read {records}: {exc}") from None
    try:
        mine = reconciliation.read_records(text, records.name)
    except reconciliation.RecordsError as exc:
        raise _Unreconciled(str(exc)) from None
    base = bank_url.rstrip("/")
    try:
        health = _http("GET", base + "/sim/health")
        if platform_no not in health.get("platforms", []):
            raise _Unreconciled(f"the bank has no platform {platform_no} (it has {', '.join(health['platforms'])})")
        day = day or health["now"][:10]
        resp = requests.get(base + "/sim/checkfile", params={"date": day, "platformNo": platform_no},
                            headers=_operator_headers(), timeout=60)
    except _Unreconciled:
        raise
    except click.ClickException as exc:
        raise _Unreconciled(exc.message) from None
    except requests.RequestException as exc:
        raise _Unreconciled(_unreachable(base, exc)) from None
    if resp.status_code != 200:
        try:
            err = resp.json()["error"]
            message = f"{err['code']}: {err['message']}"
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {resp.status_code}"
        raise _Unreconciled(f"the bank refused the check file: {message}")
    try:
        totals, theirs = reconciliation.read_checkfile(resp.text)
    except (reconciliation.RecordsError, ValueError) as exc:
        raise _Unreconciled(str(exc)) from None
    if totals.get("platformNo") not in ("", platform_no):
        raise _Unreconciled(f"the bank answered the check file of {totals.get('platformNo')}, not {platform_no}")
    report = reconciliation.report(day, platform_no, theirs, mine)
    if as_json:
        _echo_json(report)
    elif as_csv:
        writer = csv_mod.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["date", "kind", "requestNo", "bankAmount", "platformAmount", "bankStatus", "platformStatus",
                         "detail"])
        for b in report["breaks"]:
            bank_side, plat = b["bank"] or {}, b["platform"] or {}
            writer.writerow([day, b["kind"], b["requestNo"], bank_side.get("amount", ""), plat.get("amount", ""),
                             bank_side.get("status", ""), plat.get("status", ""), b["detail"]])
    else:
        click.echo(f"reconciliation {day} of {platform_no}: bank {report['bank']['count']} line(s) / "
                   f"{report['bank']['totalAmount']}, platform {report['platform']['count']} / "
                   f"{report['platform']['totalAmount']}")
        if report["breaks"]:
            _table(["kind", "requestNo", "bank", "platform", "detail"],
                   [[b["kind"], b["requestNo"], _side(b["bank"]), _side(b["platform"]), b["detail"]]
                    for b in report["breaks"]])
        else:
            click.echo("clean: zero breaks")
    return 0 if report["clean"] else 1


def _side(line: dict | None) -> str:
    return "-" if not line else f"{line['amount']} {line['status']}"


# -- the end user and the bank counter ------------------------------------------
@main.group()
def gateway() -> None:
    """Act as the end user on the bank's gateway pages."""


@gateway.command("complete")
@click.argument("request_text", metavar="REQUEST")
@click.option("--password", required=True, help="The trade password the user types.")
@click.option("--confirm-password", help="PERSONAL_REGISTER: the confirmation (default: --password).")
@click.option("--outcome", type=click.Choice(["success", "wrong_password", "cancel"]), default="success",
              show_default=True, help="What the user does: confirm, type a wrong password, or leave (cancel).")
@click.option("--bank-url", envvar="WANXIN_BANK_URL",
              help="Base URL when REQUEST has no depositoryUrl [env WANXIN_BANK_URL].")
@click.option("--json", "as_json", is_flag=True, help="Print {code, msg, location} as JSON.")
def gateway_complete(request_text, password, confirm_password, outcome, bank_url, as_json) -> None:
    """Complete the gateway page of REQUEST like a browser and print where it redirects.

    REQUEST is a URL carrying serviceName, platformNo, reqData and signature, or a JSON object
    {depositoryUrl|url, serviceName, platformNo, reqData, signature} ('-' reads it from stdin)."""
    import requests

    from bank_depository.protocol import gateway_user

    if request_text == "-":
        request_text = sys.stdin.read()
    try:
        url, fields = gateway_user.parse_request(request_text, bank_url or "")
        if not url.startswith(("http://", "https://")):
            raise gateway_user.GatewayError("REQUEST names no bank; give --bank-url or a full depositoryUrl")
        result = gateway_user.complete(gateway_user.RequestsBrowser(requests.Session()), url, fields, password,
                                       confirm_password, outcome)
    except gateway_user.GatewayError as exc:
        raise click.ClickException(f"the gateway page refused: {exc.message}") from None
    except requests.RequestException as exc:
        raise click.ClickException(_unreachable(url, exc)) from None
    if as_json:
        return _echo_json(result)
    click.echo(f"code: {result['code']}" + (f"  msg: {result['msg']}" if result["msg"] else ""))
    click.echo(f"Location: {result['location']}")


@main.group()
def cards() -> None:
    """Bank customers and their cards at the bank counter."""


SURNAMES = "王李张刘陈杨黄赵吴周"


@cards.command("create")
@click.option("--name", help="The customer's full name (with --count: numbered, 张三1, 张三2 …; default: generated).")
@click.option("--balance", default="10000.00", show_default=True, help="Opening balance of each card (yuan).")
@click.option("--count", type=click.IntRange(1, 1000), default=1, show_default=True, help="How many customers.")
@click.option("--bank-code", default="ICBC", show_default=True, help="The card's bank.")
@click.option("--bank-url", envvar="WANXIN_BANK_URL", required=True, help="The running bank [env WANXIN_BANK_URL].")
@click.option("--json", "as_json", is_flag=True, help="Print the customers as JSON.")
@sim_token_option
def cards_create(name, balance, count, bank_code, bank_url, as_json) -> None:
    """Register bank customers with valid identities (GB 11643 ID, mobile, Luhn card number) and print them."""
    import secrets

    from bank_depository.domain.identity import sample_identity

    tag = secrets.randbelow(10**5)
    made = []
    for i in range(1, count + 1):
        who = sample_identity(i, tag, luhn=True)
        fullname = (name + (str(i) if count > 1 else "")) if name else SURNAMES[(tag + i) % 10] + f"客户{tag % 1000}{i}"
        body = {"fullname": fullname, **who, "bankCode": bank_code, "balance": balance}
        card = _http("POST", bank_url.rstrip("/") + "/sim/bank-cards", json=body)
        made.append({"fullname": fullname, "idNumber": who["idNumber"], "mobile": who["mobile"],
                     "cardNumber": card["cardNumber"], "bankCode": card["bankCode"], "bankName": card["bankName"],
                     "balance": card["balance"]})
    if as_json:
        return _echo_json(made if count > 1 else made[0])
    _table(["fullname", "idNumber", "mobile", "cardNumber", "bank", "balance"],
           [[c["fullname"], c["idNumber"], c["mobile"], c["cardNumber"], c["bankCode"], c["balance"]] for c in made],
           money={5})


@cards.command("deposit")
@click.argument("card")
@click.argument("amount")
@click.option("--bank-url", envvar="WANXIN_BANK_URL", required=True, help="The running bank [env WANXIN_BANK_URL].")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@sim_token_option
def cards_deposit(card, amount, bank_url, as_json) -> None:
    """Cash AMOUNT (yuan) in at the counter onto bank card CARD."""
    data = _http("POST", bank_url.rstrip("/") + f"/sim/bank-cards/{card}/deposit", json={"amount": amount})
    _echo_json(data) if as_json else click.echo(f"card {data['cardNumber']}: +{data['amount']}, balance "
                                                f"{data['balance']}")


if __name__ == "__main__":  # pragma: no cover
    main(prog_name="python -m cli")  # what to type again (click would say "cli.py"); installed, it is "wanxin"
