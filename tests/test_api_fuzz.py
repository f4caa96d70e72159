"""The hub's HTTP API against its own OpenAPI document, fuzzed by schemathesis.

The real hub (`backroom hub serve`, uvicorn, SQLite) on 127.0.0.1; every
generated request is sent once with each credential role (a store's own
token, the web shop's, ops', and none). Whatever is sent: no server error, no
status the document does not list, no schema-valid request refused as
malformed, a request without a token is 401 before anything else, and a body
that is not JSON is a documented 4xx. Bounded: a few examples per operation,
derandomised, well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance, negative_data_rejection, positive_data_acceptance, response_schema_conformance,
    status_code_conformance,
)

from hub.service import Hub  # noqa: E402
from tests.hubfixtures import HubProcess, tiny_chain, tiny_item  # noqa: E402

A, B = tiny_item(1), tiny_item(2)
CHAIN = tiny_chain([A, B], [("S001", A.sku, "floor", 10), ("W01", B.sku, "back", 50)], stores=2)
ROLES = ("store", "web", "ops", None)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          positive_data_acceptance, negative_data_rejection]


class Served:
    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url, self.tokens = url, tokens

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    db = f"sqlite:///{tmp / 'hub.sqlite'}"
    h = Hub.open(db)
    h.load_chain(CHAIN)
    tokens = {"store": h.issue_token("store", "S001"), "web": h.issue_token("web"), "ops": h.issue_token("ops")}
    h.close()
    with HubProcess(db, log_dir=tmp) as proc:
        yield Served(proc.url, tokens)


@pytest.fixture(scope="module")
def api_schema(served: Served):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_url(served.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_document_for_every_role(case, served: Served) -> None:  # type: ignore[no-untyped-def]
    for role in ROLES:
        response = case.call_and_validate(base_url=served.url, headers=served.headers(role), checks=CHECKS)
        if role is None and case.path != "/health" and case.method.upper() == case.operation.method.upper():
            assert response.status_code == 401, (case.method, case.formatted_path, response.text[:300])


BODY_ROUTES = [("POST", "/stores/S001/ledger"), ("POST", "/web/reservations"), ("POST", "/ops/grants"),
               ("POST", "/ops/release-requests")]


@pytest.mark.parametrize("method, path", BODY_ROUTES)
def test_a_body_that_is_not_json_is_a_documented_refusal(served: Served, method: str, path: str) -> None:
    documented = httpx.get(served.url + "/openapi.json").json()["paths"]
    route = path.replace("S001", "{store_id}")
    listed = {int(s) for s in documented[route][method.lower()]["responses"] if s.isdigit()}
    for role in ROLES:
        headers = {**served.headers(role), "Content-Type": "application/json", "Idempotency-Key": "k-not-json"}
        for body in (b"{not json", b"\xff\xfe", b"", b"[]", b"null"):
            r = httpx.request(method, served.url + path, content=body, headers=headers)
            assert 400 <= r.status_code < 500 and r.status_code in listed, (role, body, r.status_code, r.text)
            if role is None:
                assert r.status_code == 401
            assert r.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("path", ["/stores/S001/pull?cursor=9223372036854775808",
                                  "/stores/S001/ledger?after=9223372036854775808",
                                  "/ops/changefeed?after=9223372036854775808",
                                  "/ops/stores/S001/ledger?after=9223372036854775808",
                                  "/ops/changefeed?after=99999999999999999999999999"])
def test_numbers_beyond_64_bits_are_refused_not_crashed_on(served: Served, path: str) -> None:
    role = "store" if path.startswith("/stores") else "ops"
    r = httpx.get(served.url + path, headers=served.headers(role))
    assert r.status_code == 422, r.text
    r = httpx.post(served.url + "/ops/incidents/9223372036854775808/clear", headers=served.headers("ops"))
    assert r.status_code == 422, r.text
