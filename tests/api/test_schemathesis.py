"""Property-based run over the OpenAPI document: no request the schema allows may cause a 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from server import ADMIN_KEY

from rca.api.app import create_app
from rca.settings import Settings

schema = schemathesis.openapi.from_dict(create_app(Settings(retrain_cron="")).openapi())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(
        base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, checks=[not_a_server_error], timeout=120
    )
