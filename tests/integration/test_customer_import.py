"""The customer import against moto: the DynamoDB store, the S3-triggered ImportFunction (with the
sample event), the routing lookup answering from what was imported, and the local CLI command."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from devstack import aws
from devstack.commands import import_customers as cli
from ringback.adapters.customers_dynamo import DynamoCustomerDirectory, DynamoCustomerStore
from ringback.domain.customers import DirectoryEntry
from tests.support import budgets
from tests.support.events import http_event, response_json

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("answer_budget")]

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "devstack" / "demo" / "customers.csv"
HEADER = "customer_id,name,phones,debt_amount,debt_currency,debt_as_of,segment,priority,agent_extension,bucket_id,language\n"


@pytest.fixture(autouse=True)
def metrics_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lambda has POWERTOOLS_METRICS_NAMESPACE before ringback is imported; tests import it earlier."""
    from ringback.observability import metrics

    if not metrics.provider.namespace:
        monkeypatch.setattr(metrics.provider, "namespace", "Ringback")


def fresh_table(moto_stack: aws.ProvisionedStack) -> str:
    """A customers table of its own (a full import replaces a whole table's contents)."""
    name = f"customers-{secrets.token_hex(6)}"
    aws.aws_client("dynamodb", moto_stack.endpoint).create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_store_round_trip_and_conditional_delete(moto_stack: aws.ProvisionedStack) -> None:
    client = aws.aws_client("dynamodb", moto_stack.endpoint)
    table = fresh_table(moto_stack)
    store = DynamoCustomerStore(table, client)
    entries = [
        DirectoryEntry(
            e164=f"+42077700{i:04d}",
            customer_id=f"C{i}",
            name="Jana Nováková" if i else None,
            debt=i % 2 == 1,
            debt_amount="12.50" if i % 2 else None,
            priority=i,
            language="cs",
        )
        for i in range(60)
    ]  # more than two batches of 25
    store.put(entries)
    fingerprints = store.fingerprints()
    assert fingerprints == {e.e164: e.fingerprint() for e in entries}
    directory = DynamoCustomerDirectory(table, client)
    assert directory.find(entries[7].e164) == entries[7]
    assert directory.find(entries[0].e164) == entries[0]  # empty optional fields come back as None
    assert directory.find("+420777999999") is None
    # A number rewritten since it was read is not deleted.
    store.put([DirectoryEntry(e164=entries[1].e164, customer_id="C1", debt=False)])
    deleted = store.delete(
        {entries[1].e164: fingerprints[entries[1].e164], entries[2].e164: fingerprints[entries[2].e164]}
    )
    assert deleted == 1
    assert directory.find(entries[1].e164) is not None
    assert directory.find(entries[2].e164) is None


@pytest.fixture
def import_stack(
    lambda_env: Callable[..., dict[str, str]],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    moto_stack: aws.ProvisionedStack,
) -> dict[str, Any]:
    table = fresh_table(moto_stack)
    bucket = moto_stack.names["ImportsBucket"]
    s3 = aws.aws_client("s3", moto_stack.endpoint)
    template_event = json.loads((ROOT / "events" / "s3-customers-upload.json").read_text())

    def upload(data: bytes, key: str = "customers/crm-export 2026-11-02.csv") -> dict[str, Any]:
        s3.put_object(Bucket=bucket, Key=key, Body=data)
        event = json.loads(json.dumps(template_event))
        record = event["Records"][0]["s3"]
        record["bucket"]["name"] = bucket
        record["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
        record["object"]["key"] = key.replace(" ", "+")  # S3 sends keys URL-encoded (spaces as +)
        record["object"]["size"] = len(data)
        lambda_env("ImportFunction", RINGBACK_CUSTOMERS_TABLE=table)
        module = load_handler("ImportFunction")
        return dict(module.lambda_handler(event, lambda_context))

    def lookup(cid: str) -> dict[str, Any]:
        lambda_env("RoutingFunction", RINGBACK_CUSTOMERS_TABLE=table, **budgets.ROUTING)
        module = load_handler("RoutingFunction")
        response = module.lambda_handler(
            http_event(
                "GET",
                "/v1/routing",
                query={"cid": cid},
                headers={"authorization": f"Bearer {moto_stack.tokens['routing']}"},
            ),
            lambda_context,
        )
        assert response["statusCode"] == 200
        return dict(response_json(response))

    return {"upload": upload, "lookup": lookup, "table": table}


def test_s3_upload_imports_and_routing_answers_from_it(import_stack: dict[str, Any]) -> None:
    upload, lookup = import_stack["upload"], import_stack["lookup"]
    report = upload(DEMO.read_bytes())
    assert (report["status"], report["rejected"], report["customers"], report["deleted"]) == ("ok", 0, 6, 0)
    assert report["created"] == report["phone_numbers"] == 7
    assert report["source"].endswith("customers/crm-export 2026-11-02.csv")

    debtor = lookup("602 123 456")
    assert (debtor["found"], debtor["debt"], debtor["customer_id"], debtor["debt_amount"]) == (
        True,
        True,
        "C-10002",
        "12450.50",
    )
    assert lookup("+420224812345")["customer_id"] == "C-10002"  # the second number of the same customer
    assert (lookup("00420777666555")["found"], lookup("00420777666555")["debt"]) == (True, False)

    again = upload(DEMO.read_bytes())
    assert (again["created"], again["updated"], again["deleted"], again["unchanged"]) == (0, 0, 0, 7)

    # Next day's export: one debt paid, one customer gone, one new, and two broken rows.
    changed = DEMO.read_text(encoding="utf-8").splitlines()
    changed = [line for line in changed if not line.startswith("C-10006")]
    changed = [line.replace("12450.50,CZK", "0,CZK") for line in changed]
    changed += [
        "C-10007,Eva Malá,+420 739 000 111,100,CZK,2026-11-01,retail,0,,,cs",
        "C-10008,Bez čísla,,0,CZK,,,,,,",
        "C-10009,Špatně,+420 12,0,CZK,,,,,,",
    ]
    report = upload(("\n".join(changed) + "\n").encode())
    assert (report["status"], report["created"], report["updated"], report["deleted"]) == ("partial", 1, 2, 1)
    assert [(r["line"], r["customer_id"]) for r in report["rejections"]] == [(8, "C-10008"), (9, "C-10009")]
    assert lookup("602123456")["debt"] is False
    assert lookup("+421905123456")["reason"] == "unknown_number"
    assert lookup("739000111")["debt"] is True


def test_unusable_file_reports_and_changes_nothing(import_stack: dict[str, Any]) -> None:
    upload, lookup = import_stack["upload"], import_stack["lookup"]
    upload(DEMO.read_bytes())
    report = upload(b"name;email\nJan;jan@example.com\n")
    assert report["status"] == "failed"
    assert "customer_id" in report["error"]
    assert lookup("602123456")["found"] is True


def test_cli_imports_into_the_running_stack(
    local_stack: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = local_stack.state()
    assert cli.run(str(DEMO), state) == 0
    out = capsys.readouterr().out
    assert "rejected:    0 row(s)" in out
    # The demo rows plus two broken ones: the report names the lines; nothing is deleted.
    broken = tmp_path / "crm.csv"
    broken.write_text(
        DEMO.read_text(encoding="utf-8") + "C-X1,Nikdo,,,,,,,,,\nC-X2,Nikdo,+420 12,,,,,,,,\n",
        encoding="utf-8",
    )
    assert cli.run(str(broken), state) == 2
    out = capsys.readouterr().out
    assert "line 8 [C-X1]: phones: at least one phone number is required" in out
    assert "line 9 [C-X2]: phones: number #1 is not valid" in out
    assert "0 deleted" in out
    # The lookup through the local gateway over HTTP answers from the imported directory.
    response = httpx.get(
        f"{state['urls']['api']}/v1/routing",
        params={"cid": "+420 736 555 010"},
        headers={"Authorization": f"Bearer {state['tokens']['routing']}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert (response.json()["found"], response.json()["debt"]) == (True, True)
    assert cli.run(str(tmp_path / "missing.csv"), state) == 1


def test_header_line_matches_the_documented_columns() -> None:
    assert DEMO.read_text(encoding="utf-8").splitlines()[0] + "\n" == HEADER
