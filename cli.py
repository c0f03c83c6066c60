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
                algorithm: str | None, password_iterations: int, frozen_clock: bool) -> dict:
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
@click.option("--notify-url", default="", help="Where the bank POSTs asynchronous notifications.")
@click.option("--profile", type=click.Choice(["modern", "legacy"]), default="modern", show_default=True,
              help="Wire profile of the platform.")
@click.option("--algorithm", type=click.Choice(["SHA256withRSA", "SHA1withRSA"]), default=None,
              help="Signature hash (default: SHA256withRSA; SHA1withRSA for legacy).")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="Worker processes.")
@click.option("--password-iterations", type=click.IntRange(1, 10_000_000), default=120_000, show_default=True,
              help="PBKDF2 work factor of trade passwords.")
@click.option("--frozen-clock", is_flag=True, help="Stop the bank clock (it moves only via /sim/clock).")
def bank_serve(db, keys_dir, host, port, platform_no, notify_url, profile, algorithm, workers,
               password_iterations, frozen_clock) -> None:
    """Serve the bank on gunicorn worker processes with an embedded SQLite file."""
    from bank_depository.app import create_app
    from serving import serve

    config = bank_config(db, keys_dir, platform_no, notify_url, profile, algorithm, password_iterations,
                         frozen_clock)
    create_app({**config, "DISPATCHER_THREAD": False})  # fail fast on bad keys, create the schema

    def ready(h, p):
        click.echo(f"bank listening on http://{h}:{p}  (db {db}, platform {platform_no})", err=False)
        sys.stdout.flush()

    serve(lambda: create_app(config), host=host, port=port, workers=workers, on_ready=ready)


if __name__ == "__main__":  # pragma: no cover
    main()
