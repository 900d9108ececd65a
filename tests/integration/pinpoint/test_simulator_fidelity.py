"""Fidelity of the simulator to Pinpoint's documented API, and its control API, over raw HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from worker.simulator import FaultConfig, RateLimitSpec, SimulatorServer

pytestmark = pytest.mark.integration

JSONAPI = "application/vnd.api+json"


class Api:
    """A thin raw-HTTP helper for one tenant of the simulator."""

    def __init__(self, session: aiohttp.ClientSession, sim: SimulatorServer, key: str) -> None:
        self.session = session
        self.sim = sim
        self.base = sim.base_url_template.format(subdomain="acme") + "/api/v1"
        self.headers = {"X-API-KEY": key, "Content-Type": JSONAPI, "Accept": JSONAPI}

    async def call(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any, Any]:
        """(status, decoded body, headers)."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        data = None if body is None else json.dumps(body)
        async with self.session.request(
            method, self.base + path, data=data, headers=headers, **kwargs
        ) as resp:
            raw = await resp.read()
            return resp.status, json.loads(raw) if raw else None, resp.headers

    async def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A control API call: (status, decoded body)."""
        async with self.session.request(
            method, self.sim.url + path, json=body if body is not None else None
        ) as resp:
            raw = await resp.read()
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw.decode()


@pytest.fixture
async def api(sim: SimulatorServer, acme: Any) -> AsyncIterator[Api]:
    """Raw HTTP access to the acme tenant."""
    async with aiohttp.ClientSession() as session:
        yield Api(session, sim, acme.api_key)


DOC_APPLICATION = {
    "data": {
        "type": "applications",
        "attributes": {
            "first_name": "Jane",
            "last_name": "Doe",
            "email": "jane@example.com",
            "phone": "+1 555 0100",
            "linkedin_url": "https://linkedin.com/in/jane",
            "address1": "1 Main St",
            "skip_notifications_on_create": True,
        },
        "relationships": {"job": {"data": {"type": "jobs", "id": "1"}}},
    }
}


async def test_documented_bodies_accepted(api: Api) -> None:
    """The documented application, candidate PUT (side-posted custom attribute) and comment work."""
    status, doc, _ = await api.call("POST", "/applications", DOC_APPLICATION)
    assert status == 201
    app_id = doc["data"]["id"]
    cand_id = str(doc["data"]["attributes"]["candidate_id"])
    put = {
        "data": {
            "type": "candidates",
            "id": cand_id,
            "attributes": {"first_name": "Janet"},
            "relationships": {
                "custom_attributes": {
                    "data": [{"type": "custom_attributes", "temp-id": "t1", "method": "create"}]
                }
            },
        },
        "included": [
            {
                "type": "custom_attributes",
                "temp-id": "t1",
                "attributes": {"varchar_value": "Staff engineer"},
                "relationships": {"custom_field": {"data": {"type": "custom_fields", "id": "25"}}},
            }
        ],
    }
    status, doc, _ = await api.call("PUT", f"/candidates/{cand_id}?include=custom_attributes", put)
    assert status == 200
    ca = doc["included"][0]
    assert ca["attributes"]["value"] == "Staff engineer"
    assert ca["attributes"]["field_name"] == "Job title"
    assert "varchar_value" not in ca["attributes"]
    assert ca["relationships"]["custom_field"] == {"meta": {"included": False}}
    assert doc["data"]["relationships"]["job_seekers"] == {"meta": {"included": False}}
    update = {
        "data": {
            "type": "candidates",
            "id": cand_id,
            "relationships": {
                "custom_attributes": {
                    "data": [{"type": "custom_attributes", "id": ca["id"], "method": "update"}]
                }
            },
        },
        "included": [
            {"type": "custom_attributes", "id": ca["id"], "attributes": {"varchar_value": "CTO"}}
        ],
    }
    status, doc, _ = await api.call(
        "PUT", f"/candidates/{cand_id}?include=custom_attributes.custom_field", update)
    assert status == 200
    by_type = {(r["type"], r["id"]): r for r in doc["included"]}
    updated = by_type[("custom_attributes", ca["id"])]
    assert updated["attributes"]["value"] == "CTO"
    assert updated["relationships"]["custom_field"]["data"] == {"type": "custom_fields", "id": "25"}
    assert ("custom_fields", "25") in by_type
    comment = {
        "data": {
            "type": "comments",
            "attributes": {"body_text": "Spoke on the phone"},
            "relationships": {"commentable": {"data": {"type": "applications", "id": app_id}}},
        }
    }
    status, doc, _ = await api.call("POST", "/comments", comment)
    assert status == 201
    assert doc["data"]["id"]


async def test_patch_is_refused_and_post_candidates_not_found(api: Api) -> None:
    """Updates are PUT only (PATCH is not served); there is no POST /candidates."""
    status, doc, _ = await api.call("POST", "/applications", DOC_APPLICATION)
    cand_id = str(doc["data"]["attributes"]["candidate_id"])
    body = {"data": {"type": "candidates", "id": cand_id, "attributes": {"first_name": "X"}}}
    status, doc, _ = await api.call("PATCH", f"/candidates/{cand_id}", body)
    assert status == 404
    status, doc, _ = await api.call("POST", "/candidates", body)
    assert status == 404
    assert doc["errors"][0]["status"] == "404"


async def test_auth_failures(api: Api, sim: SimulatorServer) -> None:
    """Missing or wrong key is 401; a disabled integration is 403; errors are JSON:API."""
    status, doc, _ = await api.call("GET", "/jobs", headers={"X-API-KEY": "nope"})
    assert status == 401
    assert doc["errors"][0]["code"] == "unauthorized"
    async with api.session.get(api.base + "/jobs") as resp:
        assert resp.status == 401
    sim.tenant("acme").integration_enabled = False
    status, doc, _ = await api.call("GET", "/jobs")
    assert status == 403
    assert doc["errors"][0]["detail"] == "Integration not enabled"


async def test_validation_error_body(api: Api) -> None:
    """422 answers carry the assumed error body with a source pointer."""
    bad = json.loads(json.dumps(DOC_APPLICATION))
    bad["data"]["attributes"]["email"] = ""
    status, doc, _ = await api.call("POST", "/applications", bad)
    assert status == 422
    assert doc == {
        "errors": [
            {
                "status": "422",
                "code": "unprocessable_entity",
                "title": "Validation Error",
                "detail": "Email can't be blank",
                "source": {"pointer": "/data/attributes/email"},
            }
        ]
    }
    status, doc, _ = await api.call("POST", "/applications", {"nope": 1})
    assert status == 400


async def test_comments_on_candidates_and_on_unknown_records(api: Api) -> None:
    """A comment may hang from a candidate (comments_attributes_post) and reads back its
    commentable as attributes with the model name; one on a record that is not there is 422."""
    status, doc, _ = await api.call("POST", "/applications", DOC_APPLICATION)
    cand_id = str(doc["data"]["attributes"]["candidate_id"])
    body = {
        "data": {
            "type": "comments",
            "attributes": {"body_text": "x"},
            "relationships": {"commentable": {"data": {"type": "candidates", "id": cand_id}}},
        }
    }
    status, doc, _ = await api.call("POST", "/comments", body)
    assert status == 201
    assert doc["data"]["attributes"]["commentable_type"] == "Candidate"
    assert str(doc["data"]["attributes"]["commentable_id"]) == cand_id
    status, doc, _ = await api.call(
        "GET", f"/comments?filter[commentable_type]=Candidate&filter[commentable_id]={cand_id}")
    assert [c["attributes"]["body_text"] for c in doc["data"]] == ["x"]
    body["data"]["relationships"]["commentable"]["data"]["id"] = "999"
    status, doc, _ = await api.call("POST", "/comments", body)
    assert status == 422
    assert doc["errors"][0]["source"]["pointer"] == "/data/relationships/commentable"


async def test_notifications_unless_skipped(api: Api, sim: SimulatorServer) -> None:
    """skip_notifications_on_create: true suppresses the notification Pinpoint would send."""
    await api.call("POST", "/applications", DOC_APPLICATION)
    noisy = json.loads(json.dumps(DOC_APPLICATION))
    del noisy["data"]["attributes"]["skip_notifications_on_create"]
    await api.call("POST", "/applications", noisy)
    assert sim.tenant("acme").notifications == [{"record_type": "applications", "record_id": "2"}]


async def test_pagination_filters_and_accept_json(api: Api) -> None:
    """Paging with meta.stats.total.count and no links; undocumented filters and sizes refused."""
    for n in range(7):
        body = {
            "data": {
                "type": "job_seekers",
                "attributes": {
                    "first_name": "P",
                    "last_name": str(n),
                    "email": f"p{n}@example.com",
                    "external_system_reference": f"ref-{n % 2}",
                },
            }
        }
        status, _, _ = await api.call("POST", "/job_seekers", body)
        assert status == 201
    status, doc, _ = await api.call(
        "GET",
        "/job_seekers?page[number]=2&page[size]=3&stats[total]=count",
        headers={"Accept": "application/json"},
    )
    assert status == 200
    assert [r["attributes"]["last_name"] for r in doc["data"]] == ["3", "4", "5"]
    assert doc["meta"]["stats"]["total"]["count"] == 7
    assert set(doc) == {"data", "meta"}
    status, doc, _ = await api.call("GET", "/job_seekers?filter[external_system_reference]=ref-1")
    assert [r["attributes"]["last_name"] for r in doc["data"]] == ["1", "3", "5"]
    status, doc, _ = await api.call("GET", "/candidates?filter[email]=P4@example.com")
    assert status == 400
    assert doc["errors"][0]["detail"].startswith("Malformed query params")
    status, doc, _ = await api.call("GET", "/job_seekers?page[size]=1001")
    assert status == 400


async def test_rate_limit_headers(api: Api, sim: SimulatorServer) -> None:
    """Over the tenant's limit the answer is 429 with Retry-After and X-RateLimit-* headers."""
    sim.tenant("acme").set_rate_limit(RateLimitSpec(rate=1, burst=2))
    codes = [(await api.call("GET", "/jobs"))[0] for _ in range(3)]
    assert codes == [200, 200, 429]
    status, _, headers = await api.call("GET", "/jobs")
    assert status == 429
    assert int(headers["Retry-After"]) >= 1
    assert headers["X-RateLimit-Limit"] == "1"
    assert headers["X-RateLimit-Remaining"] == "0"
    assert float(headers["X-RateLimit-Reset"]) > 1e9


async def test_timeout_fault_never_answers(api: Api, sim: SimulatorServer) -> None:
    """An injected timeout holds the request open past the client's patience."""
    sim.set_faults(FaultConfig(script=("timeout",)))
    with pytest.raises(asyncio.TimeoutError):
        await api.call("GET", "/jobs", timeout=aiohttp.ClientTimeout(total=0.3))
    status, _, _ = await api.call("GET", "/jobs")
    assert status == 200


async def test_latency_fault(api: Api, sim: SimulatorServer) -> None:
    """Injected latency delays answers."""
    sim.set_faults(FaultConfig(latency_ms=150), tenant="acme")
    loop = asyncio.get_running_loop()
    started = loop.time()
    await api.call("GET", "/jobs")
    assert loop.time() - started >= 0.14


async def test_control_api(api: Api, sim: SimulatorServer) -> None:
    """Tenants, faults, state, request log (without keys) and reset through /_sim/."""
    status, _ = await api.control(
        "POST",
        "/_sim/tenants",
        {"subdomain": "initech", "api_key": "init-key-42", "rate_limit": {"rate": 5, "burst": 5}},
    )
    assert status == 201
    assert (await api.control("POST", "/_sim/tenants", {"subdomain": "initech"}))[0] == 400
    status, body = await api.control(
        "POST", "/_sim/tenants", {"subdomain": "initech", "api_key": "k"}
    )
    assert status == 409
    status, body = await api.control("GET", "/_sim/tenants")
    assert body["tenants"] == ["acme", "globex", "initech"]
    status, _ = await api.control("PUT", "/_sim/tenants/acme", {"api_key": "rotated"})
    assert status == 200
    assert (await api.call("GET", "/jobs"))[0] == 401
    await api.control("PUT", "/_sim/tenants/acme", {"api_key": api.headers["X-API-KEY"]})
    assert (await api.call("GET", "/jobs"))[0] == 200
    status, body = await api.control(
        "PUT", "/_sim/faults", {"tenant": "acme", "error_rate": 1.0, "error_status": 503}
    )
    assert status == 200
    assert body["tenants"]["acme"]["error_status"] == 503
    assert (await api.call("GET", "/jobs"))[0] == 503
    assert (await api.control("PUT", "/_sim/faults", {"error_rate": 2}))[0] == 400
    await api.control("PUT", "/_sim/faults", {"tenant": "acme"})
    assert (await api.call("POST", "/applications", DOC_APPLICATION))[0] == 201
    status, state = await api.control("GET", "/_sim/tenants/acme/state")
    assert len(state["candidates"]) == 1
    assert len(state["applications"]) == 1
    status, log = await api.control("GET", "/_sim/tenants/acme/requests")
    text = json.dumps(log)
    assert api.headers["X-API-KEY"] not in text
    assert "rotated" not in text
    assert log["requests"][-1]["method"] == "POST"
    assert (await api.control("GET", "/_sim/tenants/nope/state"))[0] == 404
    status, _ = await api.control("POST", "/_sim/reset")
    assert status == 200
    status, state = await api.control("GET", "/_sim/tenants/acme/state")
    assert state["candidates"] == []
    await api.control("POST", "/_sim/reset", {"tenants": True})
    status, body = await api.control("GET", "/_sim/tenants")
    assert body["tenants"] == []


async def test_unknown_tenant_is_not_found(api: Api, sim: SimulatorServer) -> None:
    """A subdomain the simulator does not hold answers 404."""
    async with api.session.get(sim.url + "/tenants/nobody/api/v1/jobs") as resp:
        assert resp.status == 404


async def test_command_line_runs_until_sigterm(tmp_path: Path) -> None:
    """`main` serves the tenants file, prints its URL, and exits 0 on SIGTERM."""
    tenants = tmp_path / "tenants.json"
    tenants.write_text(json.dumps([{"subdomain": "cli", "api_key": "cli-key"}]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from worker.simulator import main; sys.exit(main(sys.argv[1:]))",
        "--port",
        "0",
        "--tenants",
        str(tenants),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{url}/tenants/cli/api/v1/jobs", headers={"X-API-KEY": "cli-key"}) as resp,
        ):
            assert resp.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_read_only_key_and_request_log_bodies(api: Api, sim: SimulatorServer) -> None:
    """A read-only key reads but cannot write (403); the log keeps each body, never the key."""
    sim.tenant("acme").read_only = True
    status, _, _ = await api.call("GET", "/jobs")
    assert status == 200
    status, doc, _ = await api.call("POST", "/applications", DOC_APPLICATION)
    assert status == 403
    assert doc["errors"][0]["code"] == "forbidden"
    log = [entry.as_json() for entry in sim.tenant("acme").requests]
    assert log[-1]["body"] == DOC_APPLICATION
    assert log[-1]["status"] == 403
    assert "X-API-KEY" not in str(log)


async def test_refusals_follow_the_reference_facts(api: Api) -> None:
    """Every writable-elsewhere attribute the facts deny a job seeker is refused with 400."""
    from worker.core.pinpoint_reference import APPLICATIONS, JOB_SEEKERS  # noqa: PLC0415

    for name in sorted(APPLICATIONS.writes("create") - JOB_SEEKERS.writes("create")):
        body = {"data": {"type": "job_seekers", "attributes": {"first_name": "A", name: "x"}}}
        status, doc, _ = await api.call("POST", "/job_seekers", body)
        assert status == 400, name
        assert doc["errors"][0]["source"]["pointer"] == f"data/attributes/{name}"


async def test_late_write_lands_after_the_client_gave_up(api: Api, sim: SimulatorServer) -> None:
    """A late write is never answered, yet applied late_write_delay_s later."""
    sim.set_faults(FaultConfig(script=("late_write",), late_write_delay_s=0.3), tenant="acme")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(api.call("POST", "/applications", DOC_APPLICATION), timeout=0.1)
    assert sim.tenant("acme").records["applications"] == {}
    await asyncio.sleep(0.6)
    assert len(sim.tenant("acme").records["applications"]) == 1
    assert sim.tenant("acme").requests[-1].status == "late_write"
