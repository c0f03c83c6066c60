"""One contract for the two clocks (the bank's ``PersistentClock``, the platform's ``PlatformClock``).

Both follow system time until moved, never go backwards, refuse NaN/infinite/too-large moves with
a ``ClockError``, freeze, and persist their state so another instance on the same database agrees.
"""
from __future__ import annotations

import datetime as dt
import math

import pytest

from bank_depository import clock as bank_clock
from bank_depository.storage import db as bank_db
from p2p_platform import clock as platform_clock
from p2p_platform.storage.db import Store

CST = bank_clock.CST
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=CST)


class SystemTime:
    """A settable stand-in for the wall clock."""

    def __init__(self):
        self.value = T0

    def __call__(self) -> dt.datetime:
        return self.value


def _bank(path, system):
    conn = bank_db.connect(path)
    bank_db.init_schema(conn)
    return bank_clock.PersistentClock(lambda: conn, system=system), bank_clock.ClockError


def _platform(path, system):
    store = Store(str(path))
    store.init()
    return platform_clock.PlatformClock(store, system=system), platform_clock.ClockError


@pytest.fixture(params=[_bank, _platform], ids=["bank", "platform"])
def make(request, tmp_path):
    system = SystemTime()
    path = tmp_path / "clock.sqlite"

    def build():
        return request.param(path, system)
    build.system = system
    return build


def test_the_clock_follows_system_time_until_it_is_moved(make):
    clock, _ = make()
    assert clock.now() == T0
    make.system.value = T0 + dt.timedelta(seconds=5)
    assert clock.now() == T0 + dt.timedelta(seconds=5)


def test_advance_moves_forward_and_keeps_following_system_time(make):
    clock, _ = make()
    assert clock.advance(3600) == T0 + dt.timedelta(hours=1)
    make.system.value = T0 + dt.timedelta(seconds=10)
    assert clock.now() == T0 + dt.timedelta(hours=1, seconds=10)


@pytest.mark.parametrize("seconds", [-1, math.nan, math.inf, -math.inf, 1e20])
def test_a_backward_non_finite_or_calendar_breaking_advance_is_refused_and_changes_nothing(make, seconds):
    clock, error = make()
    with pytest.raises(error) as raised:
        clock.advance(seconds)
    assert isinstance(raised.value, ValueError) and str(raised.value)
    assert clock.now() == T0


def test_set_moves_to_an_instant_and_refuses_to_go_back(make):
    clock, error = make()
    later = T0 + dt.timedelta(days=2)
    assert clock.set(later) == later and clock.now() == later
    with pytest.raises(error, match="cannot set the clock back"):
        clock.set(T0)
    assert clock.now() == later


def test_a_frozen_clock_ignores_system_time_and_moves_only_when_told(make):
    clock, _ = make()
    clock.freeze(T0)
    make.system.value = T0 + dt.timedelta(hours=5)
    assert clock.now() == T0
    assert clock.advance(60) == T0 + dt.timedelta(minutes=1)
    assert clock.now() == T0 + dt.timedelta(minutes=1)


@pytest.mark.parametrize("frozen", [False, True], ids=["offset", "frozen"])
def test_a_second_clock_on_the_same_database_sees_the_same_time(make, frozen):
    first, _ = make()
    if frozen:
        first.freeze(T0)
    first.advance(86400)
    second, _ = make()
    assert second.now() == first.now() == T0 + dt.timedelta(days=1)


def test_the_platform_answers_a_nan_or_infinite_advance_with_a_clear_400(tmp_path, keys):
    from p2p_platform.app import create_app
    from p2p_platform.config import platform_config

    app = create_app(platform_config(tmp_path / "platform.sqlite", bank_url="http://127.0.0.1:9",
                                     private_key=keys["platform_private"].decode(),
                                     bank_public_key=keys["bank_public"].decode(), CLOCK_FROZEN=True))
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {app.config['SIM_TOKEN']}"  # the operator credential
    before = client.get("/sim/clock").get_json()["now"]
    for body in ('{"advance_seconds": NaN}', '{"advance_seconds": Infinity}', '{"advance_seconds": 1e20}'):
        resp = client.post("/sim/clock", data=body, content_type="application/json")
        assert resp.status_code == 400, body
        error = resp.get_json()["error"]
        assert error["code"] == "INVALID" and "advance_seconds" in error["message"]
    assert client.get("/sim/clock").get_json()["now"] == before
