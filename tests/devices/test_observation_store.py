"""Predictions stored in batches, their hourly aggregates and history, and retention (every
backend)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tinymlaas.config import Settings
from tinymlaas.db.base import utcnow
from tinymlaas.db.session import transaction
from tinymlaas.devices import ingest, messages
from tinymlaas.devices.retention import ObservationRetention, delete_expired
from tinymlaas.models import CompiledFile, Device, Observation, ObservationHour, User

from conftest import Database
from support.factories import compiled_row, device_row
from support.waiting import wait_for

API = "/api/v1"
PORT = "/dev/ttyACM0"


def admin_id(database: Database) -> int:
    with database.factory() as session:
        return session.scalars(select(User.id).where(User.username == "admin")).one()


def received(label: str, seq: int, at: datetime, latency: float, top: float) -> ingest.Received:
    scores = {label: top, "other": round(1 - top, 3)}
    message = messages.Prediction(
        port=PORT, seq=seq, label=label, scores=scores, latency_ms=latency, at=at
    )
    return ingest.Received(message, utcnow())


def store(database: Database, bridge_id: int, batch: list[ingest.Received]) -> int:
    with transaction(database.factory) as session:
        return ingest.store_predictions(session, bridge_id, batch).count


def running_device(database: Database) -> tuple[int, int, int]:
    """A plugged-in device running its installed model: (device, bridge, compiled model)."""
    owner = admin_id(database)
    compiled_id = compiled_row(database, owner)
    device_id = device_row(database, owner, present=True, installed_compiled_id=compiled_id)
    with transaction(database.factory) as session:
        device = session.get_one(Device, device_id)
        device.running_model_id = session.scalars(
            select(CompiledFile.sha256).where(
                CompiledFile.compiled_id == compiled_id, CompiledFile.name == "manifest.json"
            )
        ).one()
        return device_id, device.bridge_id, compiled_id


def test_batches_are_stored_in_order_and_added_up_per_hour_label_and_model(
    client: TestClient, database: Database
) -> None:
    device_id, bridge_id, compiled_id = running_device(database)
    hour = utcnow().replace(minute=0, second=0, microsecond=0)
    first = [
        received("cat", 1, hour + timedelta(seconds=1), 10.0, 0.9),
        received("dog", 2, hour + timedelta(seconds=2), 30.0, 0.6),
        received("cat", 3, hour + timedelta(seconds=3), 20.0, 0.7),
    ]
    unknown = ingest.Received(first[0].message.model_copy(update={"port": "/dev/gone"}), utcnow())
    assert store(database, bridge_id, [*first, unknown]) == 3
    assert store(database, bridge_id, [received("cat", 4, hour, 50.0, 0.8)]) == 1

    with database.factory() as session:
        rows = session.scalars(select(Observation).order_by(Observation.id)).all()
        hours = session.scalars(select(ObservationHour).order_by(ObservationHour.label)).all()
    assert [row.seq for row in rows] == [1, 2, 3, 4]
    assert {row.compiled_id for row in rows} == {compiled_id}
    assert rows[1].ts == hour + timedelta(seconds=2)  # the bridge's time
    cat, dog = hours
    assert (cat.label, cat.count, cat.latency_sum_ms, cat.latency_max_ms) == ("cat", 3, 80, 50)
    assert round(cat.top_score_sum, 6) == 2.4
    assert (dog.label, dog.count, dog.compiled_id, dog.hour) == ("dog", 1, compiled_id, hour)

    history = client.get(f"{API}/devices/{device_id}/history", params={"hours": 2}).json()
    assert history["total"] == 4
    assert history["hours"] == [
        {
            "hour": hour.isoformat().replace("+00:00", "Z"),
            "count": 4,
            "labels": {"cat": 3, "dog": 1},
            "mean_latency_ms": 27.5,
            "max_latency_ms": 50.0,
            "mean_top_score": 0.75,
            "compiled_ids": [compiled_id],
        }
    ]
    refused = client.get(f"{API}/devices/{device_id}/history", params={"hours": 0})
    assert refused.status_code == 422


def test_retention_deletes_old_observations_in_batches_and_keeps_their_history(
    client: TestClient, database: Database
) -> None:
    device_id, bridge_id, _ = running_device(database)
    now = utcnow()
    old = now - timedelta(days=40)
    store(database, bridge_id, [received("cat", n, old, 5.0, 0.9) for n in range(7)])
    store(database, bridge_id, [received("dog", n, now, 5.0, 0.9) for n in range(7, 9)])

    cutoff = now - timedelta(days=30)
    assert delete_expired(database.factory, cutoff, batch=3, max_batches=2) == 6
    assert delete_expired(database.factory, cutoff, batch=3, max_batches=2) == 1
    assert delete_expired(database.factory, cutoff, batch=3, max_batches=2) == 0
    with database.factory() as session:
        left = session.scalars(select(Observation.seq).order_by(Observation.id)).all()
        hours = session.scalar(select(func.sum(ObservationHour.count)))
    assert left == [7, 8]
    assert hours == 9
    history = client.get(f"{API}/devices/{device_id}/history", params={"hours": 24 * 41}).json()
    assert [h["count"] for h in history["hours"]] == [7, 2]
    assert history["total"] == 9
    assert datetime.fromisoformat(history["hours"][0]["hour"]) == old.replace(
        minute=0, second=0, microsecond=0, tzinfo=UTC
    )


def test_a_burst_over_the_websocket_is_stored_in_order_and_drops_are_shown(
    client: TestClient,
) -> None:
    token = client.post(f"{API}/bridges", json={"name": "b"}).json()["token"]
    ports = ["/dev/a", "/dev/b"]
    with client.websocket_connect(
        f"{API}/bridges/connect", headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_text(messages.encode(messages.Ports(ports=[messages.Port(port=p) for p in ports])))
        for seq in range(120):
            prediction = messages.Prediction(
                port=ports[seq % 2], seq=seq, label="cat", scores={"cat": 1.0}, latency_ms=2.0
            )
            ws.send_text(messages.encode(prediction))
        ws.send_text(messages.encode(messages.Ping(dropped={"/dev/a": 7, "/dev/nowhere": 3})))
        # Any message other than a ping waits for the predictions before it to be stored.
        ws.send_text(messages.encode(messages.Ports(ports=[messages.Port(port=p) for p in ports])))
        devices = wait_for(
            lambda: [d for d in client.get(f"{API}/devices").json()["items"] if d["last_seen"]],
            10,
            "the devices",
        )
        by_port = {d["port"]: d for d in devices}
        ids = [by_port[port]["id"] for port in ports]
        wait_for(
            lambda: client.get(f"{API}/devices/{ids[1]}/history").json()["total"] == 60,
            10,
            "120 predictions stored",
        )
        seqs = [
            [row["seq"] for row in client.get(f"{API}/devices/{i}/observations").json()["items"]]
            for i in ids
        ]
    assert seqs == [list(range(0, 120, 2)), list(range(1, 120, 2))]
    device_a = client.get(f"{API}/devices/{by_port['/dev/a']['id']}").json()
    assert device_a["dropped_predictions"] == 7
    from web.test_pages import log_in

    log_in(client)
    page = client.get(f"/devices/{device_a['id']}", headers={"Accept": "text/html"}).text
    assert "7 dropped by the bridge" in page
    assert "cat 60" in page


def test_the_retention_chore_runs_when_due_and_never_with_zero_days(
    client: TestClient, database: Database, settings: Settings
) -> None:
    _, bridge_id, _ = running_device(database)
    old = utcnow() - timedelta(days=3)
    store(database, bridge_id, [received("cat", n, old, 5.0, 0.9) for n in range(4)])
    now = [0.0]

    def count() -> int:
        with database.factory() as session:
            return session.scalar(select(func.count()).select_from(Observation)) or 0

    keep_forever = settings.model_copy(update={"observation_retention_days": 0})
    ObservationRetention(keep_forever, database.factory, clock=lambda: now[0])()
    assert count() == 4
    two_days = settings.model_copy(
        update={"observation_retention_days": 2, "observation_retention_check_seconds": 60}
    )
    chore = ObservationRetention(two_days, database.factory, clock=lambda: now[0])
    store(database, bridge_id, [received("cat", 9, utcnow() - timedelta(days=3), 5.0, 0.9)])
    chore()
    assert count() == 0
    store(database, bridge_id, [received("cat", 10, utcnow() - timedelta(days=3), 5.0, 0.9)])
    now[0] = 59.0
    chore()  # not due yet
    assert count() == 1
    now[0] = 60.0
    chore()
    assert count() == 0


def test_a_bridge_time_in_another_zone_counts_in_its_utc_hour() -> None:
    received_at = datetime(2026, 12, 1, 10, 50, tzinfo=UTC)
    india = timezone(timedelta(hours=5, minutes=30))
    at = datetime(2026, 12, 1, 16, 10, tzinfo=india)  # 10:40 UTC
    prediction = messages.Prediction(port="p", label="cat", scores={"cat": 1.0}, at=at)
    received = ingest.Received(prediction, received_at)
    assert received.ts == datetime(2026, 12, 1, 10, 40, tzinfo=UTC)
    assert received.ts.utcoffset() == timedelta(0)
    row = {"device_id": 1, "compiled_id": None, "ts": received.ts, "label": "cat"}
    (hour,) = ingest.hourly_totals([{**row, "scores": {"cat": 1.0}, "latency_ms": 2.0}])
    assert hour["hour"] == datetime(2026, 12, 1, 10, tzinfo=UTC)
    ahead = messages.Prediction(
        port="p", label="cat", scores={"cat": 1.0}, at=received_at.replace(hour=11)
    )
    assert ingest.Received(ahead, received_at).ts == received_at
