"""Deeper checks of template.yaml than ``cfn-lint template.yaml`` makes.

cfn-lint reads SAM templates directly but misses some errors (a bad runtime in Globals, a
``!Ref`` to a missing table inside a policy template). So this script also translates the
template to plain CloudFormation with aws-sam-translator (offline) and lints the result, then
checks ringback's own rules: every function is python3.13 on arm64 with the shared layer, a
log group with retention and an errors alarm; policies name their resources (no ``*``);
secrets never come in as plain template parameters. Last, checkov (offline, ``--skip-download``)
checks the translated template; a finding passes only when devstack/tools/checkov-skips.yaml
lists it with its reason, and a skip that matches no finding is a problem too.

Runs in the tools environment (aws-sam-translator pins its own pydantic): see the Makefile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from cfnlint.api import lint_all
from cfnlint.decode.decode import decode_str
from samtranslator.translator.transform import transform

# The managed policies SAM attaches by itself; an offline map instead of IAM's list_policies.
MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
    "AWSXRayDaemonWriteAccess": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
    "AWSLambdaDynamoDBExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole",
}
SECRET_WORDS = ("token", "secret", "password", "apikey", "api_key")


class _OfflinePolicies:
    def load(self) -> dict[str, str]:
        return MANAGED_POLICIES


def translate(template: dict[str, Any]) -> dict[str, Any]:
    import os

    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
    # Only pseudo parameters: template parameters stay references, as on a real deploy.
    params = {}
    params.update(
        {
            "AWS::Region": "eu-central-1",
            "AWS::AccountId": "123456789012",
            "AWS::StackName": "ringback-check",
            "AWS::Partition": "aws",
        }
    )
    # As `sam package` would: local code folders become S3 locations before the transform.
    packaged = json.loads(json.dumps(template))
    for resource in packaged["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://ringback-artifacts/{props[key].strip('/')}.zip"
    return dict(transform(packaged, params, _OfflinePolicies()))


def ringback_rules(template: dict[str, Any], translated: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    resources = template["Resources"]
    globals_fn = template.get("Globals", {}).get("Function", {})
    if globals_fn.get("Runtime") != "python3.13":
        problems.append("Globals.Function.Runtime must be python3.13")
    if globals_fn.get("Architectures") != ["arm64"]:
        problems.append("Globals.Function.Architectures must be [arm64]")
    layers = [k for k, v in resources.items() if v["Type"] == "AWS::Serverless::LayerVersion"]
    if len(layers) != 1:
        problems.append("exactly one shared AWS::Serverless::LayerVersion is expected")
    for layer in layers:
        if resources[layer].get("Metadata", {}).get("BuildMethod") != "python3.13":
            problems.append(f"{layer}: Metadata.BuildMethod must be python3.13")
    if len([v for v in resources.values() if v["Type"] == "AWS::Serverless::HttpApi"]) != 1:
        problems.append("exactly one AWS::Serverless::HttpApi is expected")
    alarmed = {
        json.dumps(v["Properties"].get("Dimensions", []))
        for v in resources.values()
        if v["Type"] == "AWS::CloudWatch::Alarm"
    }
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        log_group = props.get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        if not log_group or "RetentionInDays" not in resources.get(log_group, {}).get("Properties", {}):
            problems.append(f"{name}: needs LoggingConfig.LogGroup with RetentionInDays")
        if not any(name in dims for dims in alarmed):
            problems.append(f"{name}: no CloudWatch alarm watches it")
        for policy in props.get("Policies", []):
            if isinstance(policy, str):
                problems.append(f"{name}: managed policy '{policy}' is broader than its own resources")
    for logical_id, resource in translated["Resources"].items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                targets = statement.get("Resource")
                targets = targets if isinstance(targets, list) else [targets]
                actions = statement.get("Action")
                actions = actions if isinstance(actions, list) else [actions]
                # X-Ray and CloudWatch metrics have no resource-level permissions.
                if "*" in targets and not all(str(a).startswith(("xray:", "cloudwatch:")) for a in actions):
                    problems.append(f"{logical_id}: statement allows {actions} on every resource")
    for name in template.get("Parameters", {}):
        if any(word in name.lower() for word in SECRET_WORDS):
            problems.append(
                f"parameter {name}: secrets come from Secrets Manager/SSM, not template parameters"
            )
    return problems


SKIPS = Path(__file__).with_name("checkov-skips.yaml")


def checkov_problems(translated: dict[str, Any], skips_path: Path = SKIPS) -> list[str]:
    """Run checkov on the translated template; findings not in the skip file are problems."""
    skips: dict[str, Any] = yaml.safe_load(skips_path.read_text()) or {}
    problems = [
        f"{skips_path.name}: {cid} has no reason" for cid, s in skips.items() if not (s or {}).get("reason")
    ]
    checkov = Path(sys.executable).with_name("checkov")
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "translated.json"
        target.write_text(json.dumps(translated))
        run = subprocess.run(
            [
                *(str(checkov), "-f", str(target), "--framework", "cloudformation"),
                *("--quiet", "--compact", "--skip-download", "--output", "json"),
            ],
            capture_output=True,
            text=True,
            check=False,
            # Offline: no update check, no guideline mapping download (with --skip-download).
            env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"},
        )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        return [f"checkov did not run: {(run.stderr or run.stdout)[-500:]}"]
    reports = report if isinstance(report, list) else [report]
    failed = [f for r in reports for f in r.get("results", {}).get("failed_checks", [])]
    used: set[tuple[str, str]] = set()
    for finding in failed:
        check_id, resource = finding["check_id"], str(finding["resource"]).rsplit(".", 1)[-1]
        skip = skips.get(check_id)
        if skip is not None and (not skip.get("resources") or resource in skip["resources"]):
            used.add((check_id, resource if skip.get("resources") else "*"))
            continue
        problems.append(f"checkov {check_id} on {resource}: {finding['check_name']}")
    for check_id, skip in skips.items():
        for resource in (skip or {}).get("resources") or ["*"]:
            if (check_id, resource) not in used:
                problems.append(f"{skips_path.name}: stale skip {check_id} {resource} (no such finding)")
    return problems


def main(path: str) -> int:
    text = Path(path).read_text()
    template, matches = decode_str(text)
    if matches or template is None:
        print("\n".join(str(m) for m in matches) or "template could not be read")
        return 1
    translated = translate(dict(template))
    # W1020: SAM itself resolves parameter defaults inside a layer's LayerName !Sub.
    problems = [
        f"translated template: {m}"
        for m in lint_all(json.dumps(translated))
        if m.rule.id[0] in "EW" and m.rule.id != "W1020"
    ]
    problems += ringback_rules(dict(template), translated)
    problems += checkov_problems(translated)
    for problem in problems:
        print(f"template.yaml: {problem}")
    if not problems:
        count = sum(1 for r in translated["Resources"].values())
        print(f"template.yaml: translated to {count} CloudFormation resources; no problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
