"""The audit trail as an inspector reads it: newest first, paginated, filtered, times unambiguous."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.web.audit_helpers import events_since, last_seq
from tests.web.conftest import api_token, login, page_csrf


@pytest.mark.req("FDAQA-Q14a")
def test_one_instant_shown_to_london_and_new_york_across_dst(env):
    """2026-03-10 12:00 UTC: New York already on EDT (UTC-4), London still on GMT (UTC+0)."""
    env.clock.set(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    env.user("london", "inspector", time_zone="Europe/London")
    env.user("newyork", "inspector", time_zone="America/New_York")
    seq = last_seq(env.db)
    london = login(env.client(), "london").get(f"/audit?before={seq + 1}&limit=1").text
    newyork = login(env.client(), "newyork").get(f"/audit?before={seq + 1}&limit=1").text
    assert "2026-03-10 12:00:00+00:00" in london
    assert "2026-03-10 08:00:00-04:00" in newyork
    assert '<time datetime="2026-03-10T12:00:00Z"' in london and '<time datetime="2026-03-10T12:00:00Z"' in newyork
    assert "When (Europe/London)" in london and "When (America/New_York)" in newyork
    # three weeks later both are on summer time: London +01:00, New York -04:00
    env.clock.set(datetime(2026, 3, 31, 12, 0, tzinfo=UTC))
    env.user("later", "staff")
    seq = last_seq(env.db)
    assert "2026-03-31 13:00:00+01:00" in login(env.client(), "london").get(f"/audit?before={seq + 1}&limit=1").text
    assert "2026-03-31 08:00:00-04:00" in login(env.client(), "newyork").get(f"/audit?before={seq + 1}&limit=1").text
    stored = events_since(env.db, 0)
    assert all(e["at"].endswith("Z") for e in stored)


@pytest.mark.req("P11-10e.5")
def test_client_supplied_times_are_ignored(env):
    env.user("root", "admin")
    bob = env.user("bob", "staff")
    admin = login(env.client(), "root")
    csrf = page_csrf(admin, f"/admin/users/{bob.id}")
    start = last_seq(env.db)
    forged = {"Date": "Tue, 01 Jan 2019 00:00:00 GMT", "X-Timestamp": "2019-01-01T00:00:00Z"}
    admin.post(f"/admin/users/{bob.id}/roles", headers=forged,
               data={"role": "author", "reason": "x", "csrf_token": csrf, "timestamp": "2019-01-01T00:00:00Z",
                     "at": "2019-01-01T00:00:00Z"})
    headers = api_token(env.client(), "root")
    env.client().post(f"/api/v1/users/{bob.id}/roles", headers={**headers, **forged},
                      json={"role": "qa", "reason": "y"})
    events = events_since(env.db, start)
    assert [e["action"] for e in events] == ["role:grant", "token:issue", "role:grant"]
    assert {e["at"] for e in events} == {"2026-11-21T09:00:00.000000Z"}


@pytest.mark.req("P11-10e.2")
def test_newest_first_paginated_and_filtered(env):
    env.user("insp", "inspector")
    for n in range(60):
        env.clock.advance(timedelta(seconds=1))
        env.user(f"user{n:02d}", "staff")
    client = login(env.client(), "insp")
    first = client.get("/audit").text
    top = last_seq(env.db)
    assert first.index(f'<td class="num">{top}</td>') < first.index(f'<td class="num">{top - 1}</td>')
    assert "Older events" in first
    older = client.get(f"/audit?before={top - 49}").text
    assert f'<td class="num">{top - 50}</td>' in older and f'<td class="num">{top - 49}</td>' not in older
    only_grants = client.get("/audit?action=role:grant&limit=500").text
    assert only_grants.count("<code>role:grant</code>") == 61
    assert "<code>user:create</code>" not in only_grants
    by_actor = client.get("/audit?actor=insp").text
    assert "<code>user:login</code>" in by_actor and "<code>user:create</code>" not in by_actor
    assert client.get("/audit?since=2026-11-22").text.count('<td class="num">') == 0
    assert client.get("/audit?since=not-a-date").status_code == 422
    fragment = client.get("/audit?action=user:login", headers={"HX-Request": "true"}).text
    assert "<html" not in fragment and "user:login" in fragment


def test_api_trail_and_verification(env):
    env.user("insp", "inspector")
    client = env.client()
    headers = api_token(client, "insp")
    body = client.get("/api/v1/audit?limit=2", headers=headers).json()
    assert body["total"] >= 4 and len(body["events"]) == 2
    assert body["events"][0]["seq"] > body["events"][1]["seq"]
    assert set(body["events"][0]) >= {"seq", "at", "actor", "action", "subject", "reason", "before", "after",
                                      "request", "leaf_hash"}
    verdict = client.get("/api/v1/audit/verify", headers=headers).json()
    assert verdict["ok"] is True and verdict["tree_size"] == body["total"]
