"""Create template.yaml's AWS resources in a moto server, and say what each is called.

moto's own CloudFormation support skips every ``AWS::Serverless::*`` resource and TTL settings,
so resources are created here from the template's properties, with real API calls over HTTP.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

import boto3

from devstack.intrinsics import Context, Unresolvable, resolve
from devstack.template import StackTemplate

REGION = "eu-central-1"
ACCOUNT = "123456789012"  # moto's default account
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}

# Local names of the tokens people and tests need (stack.json "tokens"), by secret logical id.
TOKEN_NAMES = {
    "RoutingTokensSecret": "routing",
    "IvrTokensSecret": "ivr",
    "WebitelHookTokensSecret": "events",
    "AgentDesktopTokensSecret": "agent",
    "WebitelAccessTokenSecret": "webitel",
    "SigningKeySecret": "signing",
    "ConsoleTokensSecret": "console",
}


def aws_client(service: str, endpoint: str) -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class ProvisionedStack:
    endpoint: str
    context: Context
    names: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    # Local-only settings on top of the template's (e.g. a short operator-config cache).
    env_overrides: dict[str, str] = field(default_factory=dict)

    def function_environment(self, template: StackTemplate, logical_id: str) -> dict[str, str]:
        """The environment Lambda would give ``logical_id``, pointed at this moto server."""
        spec = template.functions[logical_id]
        env: dict[str, str] = {}
        for key, value in spec.environment.items():
            resolved = resolve(value, self.context)
            env[key] = ",".join(resolved) if isinstance(resolved, list) else str(resolved)
        env.update(FAKE_CREDENTIALS)
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_REGION": REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_LAMBDA_FUNCTION_NAME": self.context.refs.get(logical_id, logical_id),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
                # No X-Ray daemon locally.
                "POWERTOOLS_TRACE_DISABLED": "true",
            }
        )
        # Local-only settings win over the template's (e.g. the 2 s operator-config cache).
        env.update(self.env_overrides)
        return env


def default_parameters(template: StackTemplate, overrides: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in template.parameters.items():
        value = overrides.get(name, spec.get("Default", ""))
        if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        values[name] = value
    return values


def provision(
    template: StackTemplate,
    endpoint: str,
    *,
    parameters: dict[str, Any] | None = None,
    secret_values: dict[str, dict[str, str]] | None = None,
    stack_name: str = "ringback-local",
) -> ProvisionedStack:
    """Create every table, secret, parameter, bucket and queue of ``template`` in moto."""
    ctx = Context(
        parameters=default_parameters(template, parameters or {}),
        region=REGION,
        account=ACCOUNT,
        stack_name=stack_name,
    )
    for name, condition in template.raw.get("Conditions", {}).items():
        try:
            ctx.conditions[name] = bool(resolve(condition, ctx))
        except Unresolvable:
            ctx.conditions[name] = False
    stack = ProvisionedStack(endpoint, ctx)
    for logical_id in template.functions:
        ctx.refs[logical_id] = f"{stack_name}-{logical_id}"
    _create_tables(template, stack)
    _create_secrets(template, stack, secret_values or {})
    _create_parameters(template, stack)
    _create_buckets(template, stack)
    _create_queues(template, stack)
    return stack


def _props(resource: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return dict(resolve(resource.get("Properties", {}), ctx))


def _create_tables(template: StackTemplate, stack: ProvisionedStack) -> None:
    ddb = aws_client("dynamodb", stack.endpoint)
    for logical_id, resource in template.resources_of("AWS::DynamoDB::Table").items():
        props = _props(resource, stack.context)
        name = props.get("TableName", logical_id)
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        with contextlib.suppress(ddb.exceptions.ResourceInUseException):
            ddb.create_table(**request)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        described = ddb.describe_table(TableName=name)["Table"]
        stack.context.refs[logical_id] = name
        stack.context.attrs[logical_id] = {
            "Arn": described["TableArn"],
            "StreamArn": described.get("LatestStreamArn", ""),
        }
        stack.names[logical_id] = name


def _create_secrets(
    template: StackTemplate, stack: ProvisionedStack, secret_values: dict[str, dict[str, str]]
) -> None:
    sm = aws_client("secretsmanager", stack.endpoint)
    for logical_id, resource in template.resources_of("AWS::SecretsManager::Secret").items():
        props = _props(resource, stack.context)
        name = props.get("Name", logical_id)
        value = secret_values.get(logical_id)
        if value is None:
            generate = props.get("GenerateSecretString", {})
            value = json.loads(generate.get("SecretStringTemplate", "{}"))
            value[generate.get("GenerateStringKey", "current")] = secrets.token_urlsafe(24)
        arn = sm.create_secret(Name=name, SecretString=json.dumps(value))["ARN"]
        stack.context.refs[logical_id] = arn
        stack.names[logical_id] = arn
        if logical_id in TOKEN_NAMES:
            stack.tokens[TOKEN_NAMES[logical_id]] = next(iter(value.values()))


def _create_parameters(template: StackTemplate, stack: ProvisionedStack) -> None:
    ssm = aws_client("ssm", stack.endpoint)
    for logical_id, resource in template.resources_of("AWS::SSM::Parameter").items():
        props = _props(resource, stack.context)
        ssm.put_parameter(
            Name=props["Name"], Value=props["Value"], Type=props.get("Type", "String"), Overwrite=True
        )
        stack.context.refs[logical_id] = props["Name"]
        stack.names[logical_id] = props["Name"]


def _create_buckets(template: StackTemplate, stack: ProvisionedStack) -> None:
    s3 = aws_client("s3", stack.endpoint)
    for logical_id, resource in template.resources_of("AWS::S3::Bucket").items():
        props = _props(resource, stack.context)
        name = props.get("BucketName", logical_id.lower())
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        stack.context.refs[logical_id] = name
        stack.context.attrs[logical_id] = {"Arn": f"arn:aws:s3:::{name}"}
        stack.names[logical_id] = name


def _create_queues(template: StackTemplate, stack: ProvisionedStack) -> None:
    sqs = aws_client("sqs", stack.endpoint)
    for logical_id, resource in template.resources_of("AWS::SQS::Queue").items():
        props = _props(resource, stack.context)
        name = props.get("QueueName", f"{stack.context.stack_name}-{logical_id}")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        stack.context.refs[logical_id] = url
        stack.context.attrs[logical_id] = {"Arn": arn, "QueueName": name, "QueueUrl": url}
        stack.names[logical_id] = url
