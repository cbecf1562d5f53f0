"""Analyses and incidents listed by the services of their ranked causes, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from rca.store import Store, schema
from rca.store.causes import ranked_services
from rca.store.records import Records

REQUEST = {"method": "baro", "k": 3, "source": "inline", "window": {}}


def result(*services: str) -> dict[str, Any]:
    """A result document ranking ``services`` in this order (with a second series of the top one)."""
    ranking = [
        {"rank": i + 1, "service": s, "metric": f"{s}_cpu", "score": 1 / (i + 1)} for i, s in enumerate(services)
    ]
    return {"ranking": [*ranking, {"rank": 1, "service": services[0], "metric": f"{services[0]}_mem", "score": 0.5}]}


def analysed(records: Records, *services: str) -> str:
    record = records.create_analysis(REQUEST)
    records.update_analysis(record["id"], status="done", result=result(*services))
    return str(record["id"])


def test_ranked_services_keep_each_service_once_at_its_best_rank() -> None:
    assert ranked_services(result("carts", "user", "orders")) == {"carts": 1, "user": 2, "orders": 3}
    assert ranked_services({"ranking": [{"rank": 2, "service": "a"}, {"rank": 1, "service": "a"}]}) == {"a": 1}
    assert ranked_services(None) == ranked_services({"ranking": None}) == {}
    assert ranked_services({"ranking": [{"rank": "1", "service": "a"}, {"service": "b"}, "c"]}) == {}


def test_pages_filtered_by_service(store: Store) -> None:
    records = Records(store)
    carts_first = [analysed(records, "carts", "user", "orders") for _ in range(5)]
    carts_third = [analysed(records, "user", "orders", "carts") for _ in range(2)]
    analysed(records, "user", "orders", "payment")
    records.create_analysis(REQUEST)  # pending: ranks nothing yet

    everything, total = records.page_analyses(limit=100, offset=0)
    assert total == 9 and len(everything) == 9
    ids, total = records.page_analyses(limit=100, offset=0, service="carts")
    assert total == 7 and [i for i, _ in ids] == (carts_first + carts_third)[::-1]  # newest first
    first, total = records.page_analyses(limit=100, offset=0, service="carts", max_rank=1)
    assert total == 5 and {i for i, _ in first} == set(carts_first)
    assert records.page_analyses(limit=100, offset=0, service="carts", max_rank=2)[1] == 5
    # paging walks the matching analyses only
    pages = [records.page_analyses(limit=3, offset=o, service="carts")[0] for o in (0, 3, 6)]
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for p in pages for i, _ in p] == [i for i, _ in ids]
    assert records.page_analyses(limit=3, offset=0, service="nobody") == ([], 0)


def test_incidents_filter_through_their_analysis(store: Store) -> None:
    records = Records(store)
    opened = []
    for i, services in enumerate([("carts", "user"), ("user", "carts"), ("orders", "user")]):
        incident = records.open_incident(1000.0 + i, {"onset": 1000.0 + i, "symptoms": {}})
        records.update_incident(incident["id"], analysis_id=analysed(records, *services))
        opened.append(incident["id"])
    records.open_incident(2000.0, {"onset": 2000.0, "symptoms": {}})  # not analysed yet
    rows, total = records.list_incidents(limit=10, offset=0, service="carts")
    assert total == 2 and [r["id"] for r in rows] == [opened[1], opened[0]]
    rows, total = records.list_incidents(limit=1, offset=1, service="user", max_rank=2)
    assert total == 3 and [r["id"] for r in rows] == [opened[1]]
    assert records.list_incidents(limit=10, offset=0, service="carts", max_rank=1)[1] == 1
    assert records.list_incidents(limit=10, offset=0, service="carts", status="closed") == ([], 0)
    assert records.list_incidents(limit=10, offset=0)[1] == 4


def test_a_new_result_replaces_the_ranked_services(store: Store) -> None:
    records = Records(store)
    analysis_id = analysed(records, "carts", "user")
    records.update_analysis(analysis_id, status="done", result=result("orders"))
    assert records.page_analyses(limit=10, offset=0, service="carts")[1] == 0
    assert records.page_analyses(limit=10, offset=0, service="orders")[1] == 1


def test_a_store_of_schema_version_2_is_filled_from_its_results(store: Store) -> None:
    records = Records(store)
    ids = [analysed(records, "carts", "user"), analysed(records, "user", "orders")]
    failed = records.create_analysis(REQUEST)
    records.update_analysis(failed["id"], status="failed", error="no data")
    with store.transaction() as conn:  # as version 2 left it: no table of ranked services
        conn.execute(sa.update(schema.meta).values(value="2"))
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE cause_services")
    store.close()

    upgraded = Store(store.url)
    try:
        again = Records(upgraded)
        assert again.page_analyses(limit=10, offset=0, service="user")[1] == 2
        assert [i for i, _ in again.page_analyses(limit=10, offset=0, service="carts")[0]] == [ids[0]]
        assert again.page_analyses(limit=10, offset=0, service="orders", max_rank=1)[1] == 0
        with upgraded.engine.connect() as conn:
            version = conn.execute(sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version"))
            assert version.scalar_one() == str(schema.SCHEMA_VERSION)
            assert conn.execute(sa.select(sa.func.count()).select_from(schema.cause_services)).scalar_one() == 4
    finally:
        upgraded.close()
