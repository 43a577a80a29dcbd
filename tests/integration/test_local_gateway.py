"""The local gateway behaves like API Gateway HTTP API in front of Lambda (payload format 2.0)."""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.functions import FunctionPool
from devstack.gateway import LocalGateway
from devstack.template import load as load_template
from devstack.template import load_yaml, parse

pytestmark = pytest.mark.integration

ECHO_HANDLER = textwrap.dedent("""
    import base64, json, os, time
    STATE = {"calls": 0}

    def handler(event, context):
        STATE["calls"] += 1
        if event["rawPath"] == "/crash":
            raise RuntimeError("boom")
        if event["rawPath"] == "/slow":
            time.sleep(5)
        if event["rawPath"] == "/binary":
            return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                    "body": base64.b64encode(b"\\x89PNG").decode(), "isBase64Encoded": True}
        if event["rawPath"] == "/plain":
            return {"hello": "world"}
        # A backend's own CORS headers, which API Gateway ignores when the API has a CorsConfiguration.
        return {"statusCode": 201, "headers": {"Content-Type": "application/json", "X-Custom": "yes",
                                               "Access-Control-Allow-Origin": "*",
                                               "Access-Control-Expose-Headers": "x-custom"},
                "cookies": ["a=1; Path=/"],
                "body": json.dumps({"event": event, "env": os.environ.get("GREETING"),
                                    "calls": STATE["calls"], "remaining": context.get_remaining_time_in_millis(),
                                    "name": context.function_name})}
""")

TEMPLATE = textwrap.dedent("""
    Transform: AWS::Serverless-2016-10-31
    Globals:
      Function:
        Timeout: 2
        Environment:
          Variables:
            GREETING: hello
    Resources:
      Echo:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: {code}
          Handler: echo.handler
          Events:
            Root: {{Type: HttpApi, Properties: {{Path: "/items/{{id}}", Method: GET}}}}
            Literal: {{Type: HttpApi, Properties: {{Path: /items/special, Method: GET}}}}
            Post: {{Type: HttpApi, Properties: {{Path: /items, Method: POST}}}}
            Crash: {{Type: HttpApi, Properties: {{Path: /crash, Method: GET}}}}
            Slow: {{Type: HttpApi, Properties: {{Path: /slow, Method: GET}}}}
            Binary: {{Type: HttpApi, Properties: {{Path: /binary, Method: GET}}}}
            Plain: {{Type: HttpApi, Properties: {{Path: /plain, Method: GET}}}}
      Api:
        Type: AWS::Serverless::HttpApi
        Properties:
          CorsConfiguration:
            AllowOrigins: [https://shop.example]
            AllowMethods: [GET, POST]
            AllowHeaders: [Content-Type, X-Site-Key]
            ExposeHeaders: [Retry-After]
            MaxAge: 300
""")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGateway]:
    code = tmp_path_factory.mktemp("echo")
    (code / "echo.py").write_text(ECHO_HANDLER)
    spec = parse(load_yaml(TEMPLATE.format(code=code)))
    fn = spec.functions["Echo"]
    fn.code_uri = Path(code)
    env = {k: str(v) for k, v in fn.environment.items()}
    pools = {"Echo": FunctionPool(fn, env, [], max_workers=2, echo_logs=False)}
    gw = LocalGateway(spec.routes, pools, port=0, cors=spec.cors, quiet=True)
    gw.start()
    yield gw
    gw.stop()
    pools["Echo"].close()


def _echo(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_builds_a_payload_v2_event_with_path_parameters_and_lowercased_headers(gateway: LocalGateway) -> None:
    response = httpx.get(
        f"{gateway.url}/items/42?a=1&a=2&b=", headers={"X-Mixed-Case": "v", "Cookie": "c=1; d=2"}
    )
    body = _echo(response)
    event = body["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /items/{id}"
    assert event["pathParameters"] == {"id": "42"}
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["headers"]["x-mixed-case"] == "v"
    assert event["cookies"] == ["c=1", "d=2"]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert body["env"] == "hello"
    assert 0 < body["remaining"] <= 2000
    assert response.headers["x-custom"] == "yes"
    assert response.headers["set-cookie"] == "a=1; Path=/"


def test_literal_route_wins_over_parameterised_one(gateway: LocalGateway) -> None:
    assert _echo(httpx.get(f"{gateway.url}/items/special"))["event"]["routeKey"] == "GET /items/special"


def test_json_body_is_passed_as_text_and_binary_as_base64(gateway: LocalGateway) -> None:
    event = _echo(httpx.post(f"{gateway.url}/items", json={"x": 1}))["event"]
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"x": 1}
    event = _echo(
        httpx.post(
            f"{gateway.url}/items", content=b"\xff\x00", headers={"content-type": "application/octet-stream"}
        )
    )["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00"


def test_binary_answers_are_decoded(gateway: LocalGateway) -> None:
    response = httpx.get(f"{gateway.url}/binary")
    assert response.content == b"\x89PNG"
    assert response.headers["content-type"] == "image/png"


def test_a_plain_dict_answer_is_200_json(gateway: LocalGateway) -> None:
    response = httpx.get(f"{gateway.url}/plain")
    assert response.status_code == 200
    assert response.json() == {"hello": "world"}


def test_unknown_route_and_wrong_method_are_404_json(gateway: LocalGateway) -> None:
    for response in (httpx.get(f"{gateway.url}/nope"), httpx.delete(f"{gateway.url}/items")):
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}


def test_oversized_payload_is_413(gateway: LocalGateway) -> None:
    response = httpx.post(f"{gateway.url}/items", content=b"x" * (10 * 1024 * 1024 + 1))
    assert response.status_code == 413


def test_handler_crash_is_500_and_timeout_is_503(gateway: LocalGateway) -> None:
    crash = httpx.get(f"{gateway.url}/crash")
    assert crash.status_code == 500
    assert crash.json() == {"message": "Internal Server Error"}
    slow = httpx.get(f"{gateway.url}/slow", timeout=10)
    assert slow.status_code == 503
    # The pool replaced the timed-out worker: the function still answers.
    assert httpx.get(f"{gateway.url}/items/1").status_code == 201


def test_cors_preflight_and_response_headers_follow_the_templates_cors_configuration(
    gateway: LocalGateway,
) -> None:
    allowed = httpx.options(
        f"{gateway.url}/items",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    assert allowed.headers["access-control-allow-methods"] == "GET,POST"
    assert allowed.headers["access-control-allow-headers"] == "content-type,x-site-key"
    assert allowed.headers["access-control-max-age"] == "300"
    denied = httpx.options(
        f"{gateway.url}/items",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in denied.headers
    response = httpx.get(f"{gateway.url}/items/1", headers={"Origin": "https://shop.example"})
    assert response.headers["access-control-allow-origin"] == "https://shop.example"
    # The template's ExposeHeaders, not the backend's own (API Gateway ignores those).
    assert response.headers["access-control-expose-headers"] == "retry-after"
    foreign = httpx.get(f"{gateway.url}/items/1", headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 201
    assert not [k for k in foreign.headers if k.lower().startswith("access-control-")]


def test_the_stack_templates_cors_configuration_is_read_whole() -> None:
    cors = load_template().cors
    assert cors is not None
    assert cors.allow_origins == {"Ref": "AllowedOrigins"}
    assert cors.allow_methods == ("GET", "POST", "DELETE", "OPTIONS")
    assert "x-ringback-site-key" in cors.allow_headers
    # The widget reads Retry-After to pace its retries (docs/widget.md).
    assert "retry-after" in cors.expose_headers
    assert cors.max_age == 600


def test_workers_keep_module_state_between_invocations_like_a_warm_container(gateway: LocalGateway) -> None:
    first = _echo(httpx.get(f"{gateway.url}/items/1"))["calls"]
    second = _echo(httpx.get(f"{gateway.url}/items/1"))["calls"]
    assert second > first or second >= 1
    assert gateway.pools["Echo"].cold_starts >= 1
