"""``ringback`` / ``python -m devstack``: run the local stack and talk to the running one."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devstack.stack import STATE_FILE, LocalStack, StackOptions
from devstack.template import ROOT

# Commands that read the stack's data use the layer's own models (the layer is not installed).
_LAYER = str(ROOT / "layers" / "ringback")
if _LAYER not in sys.path:
    sys.path.append(_LAYER)


def _stack_json(state_file: Path | str = STATE_FILE) -> dict[str, Any]:
    state_file = Path(state_file)
    if not state_file.exists():
        sys.exit(
            f"the local stack is not running ({state_file} does not exist): start it with `make run`"
            + ("" if state_file == STATE_FILE else f" STATE_FILE={state_file}")
        )
    data: dict[str, Any] = json.loads(state_file.read_text())
    return data


def _post(url: str, payload: Any = None) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload or {}).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        sys.exit(f"{error.code}: {error.read().decode()}")


def run(args: argparse.Namespace) -> int:
    webitel_url = args.webitel_url or None
    webitel_token = os.environ.get("WEBITEL_TOKEN", "") if webitel_url else None
    if webitel_url and not webitel_token:
        sys.exit("--webitel-url needs the Webitel access token in WEBITEL_TOKEN (make run WEBITEL_TOKEN=...)")
    stack = LocalStack(
        StackOptions(
            api_port=args.api_port,
            moto_port=args.moto_port,
            webitel_port=args.webitel_port,
            scheduler=not args.no_scheduler,
            seed=not args.no_seed,
            state_file=Path(args.state_file),
            open_around_the_clock={"always": True, "template": False}.get(args.hours or ""),
            webitel_url=webitel_url,
            webitel_token=webitel_token,
            operator_config_file=Path(args.operator_config) if args.operator_config else None,
            seed_campaign=True if args.seed_campaign else None,
        )
    )
    stopped = threading.Event()

    def _stop(*_: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
    except BaseException:
        stack.stop()
        raise
    if stopped.is_set():  # Ctrl-C while starting
        print("\nstopping the local stack", flush=True)
        stack.stop()
        return 0
    state = stack.state()
    print("\nringback local stack is up\n", flush=True)
    for name, url in state["urls"].items():
        print(f"  {name:<14} {url}")
    if state["webitel"] == "real":
        print("  (a real Webitel: nothing was started or seeded there)")
    print(
        f"\n  hours          {state['hours']}"
        + ("   (real hours: make run HOURS=template)" if state["hours"] != "template.yaml" else "")
    )
    _print_seed(stack.seed_report)
    print("\n  tokens (local only):")
    for name, token in state["tokens"].items():
        print(f"  {name:<14} {token}")
    print(f"\n  schedules      {', '.join(state['schedules'])}   (fire one: make fire SCHEDULE=<name>)")
    print(f"  state file     {args.state_file}")
    print(
        "\n  try: curl -s -H 'Authorization: Bearer "
        + state["tokens"]["routing"]
        + "' '"
        + state["urls"]["api"]
        + "/v1/routing?cid=%2B420777666555'"
    )
    print("\nCtrl-C stops everything.\n", flush=True)
    stopped.wait()
    print("\nstopping the local stack", flush=True)
    stack.stop()
    return 0


def _print_seed(report: dict[str, Any]) -> None:
    """What the demo data load did; the campaign's bad rows are deliberate examples."""
    from devstack.stack import DELIBERATE_DEMO_ROWS

    for name, results in report.items():
        result = results[0] if isinstance(results, list) and len(results) == 1 else results
        if not isinstance(result, dict):
            continue
        if result.get("error"):
            print(f"  demo {name:<13} not loaded: {result['error']}")
        elif name == "campaign.csv":
            totals = result.get("totals") or {}
            bad = result.get("bad_rows") or []
            print(
                f"  demo {name:<13} {totals.get('imported', 0)} members imported, "
                f"{totals.get('duplicates_merged', 0)} duplicates merged, {len(bad)} rows refused"
            )
            for row in bad:
                line = row.get("line")
                note = "deliberate example" if line in DELIBERATE_DEMO_ROWS else "NOT an intended example"
                print(f"    line {line!s:<3} {row.get('reason')}   ({note})")
            if bad and all(row.get("line") in DELIBERATE_DEMO_ROWS for row in bad):
                print("    (the demo file holds these bad rows on purpose, to show what an import refuses)")
        else:
            print(
                f"  demo {name:<13} {result.get('customers', '?')} customers, "
                f"{result.get('rejected', 0)} rows rejected"
            )


def fire(args: argparse.Namespace) -> int:
    from devstack.commands.fire import explain

    state = _stack_json(args.state_file)
    result = _post(f"{state['urls']['api']}/_local/schedules/{args.schedule}")
    print(json.dumps(result, indent=2))
    for line in explain(args.schedule, result, state):
        print(line)
    return 0


def import_data(args: argparse.Namespace) -> int:
    state = _stack_json(args.state_file)
    if args.kind == "customers":
        from devstack.commands import import_customers

        return import_customers.run(args.file, state)
    from devstack.commands import import_campaign

    return import_campaign.run(args.file, state)


def rebuild(_: argparse.Namespace) -> int:
    from devstack.commands import rebuild_projections

    return rebuild_projections.run(_stack_json(_.state_file))


def redrive(args: argparse.Namespace) -> int:
    from devstack.commands import redrive as redrive_command

    return redrive_command.run(args.entry_ids, _stack_json(args.state_file))


def config(args: argparse.Namespace) -> int:
    from devstack.commands import config as config_command

    return config_command.run(args.assignments, _stack_json(args.state_file))


def demo(args: argparse.Namespace) -> int:
    from devstack.commands import demo as demo_command

    return demo_command.run(_stack_json(args.state_file), phone=args.phone or None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ringback", description=__doc__)
    # Every command that talks to a running stack finds it through its state file.
    running = argparse.ArgumentParser(add_help=False)
    running.add_argument(
        "--state-file",
        default=str(STATE_FILE),
        help="the state file of the running stack (make run STATE_FILE=... wrote it)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="start the local stack in the foreground")
    p_run.add_argument("--api-port", type=int, default=3000)
    p_run.add_argument("--moto-port", type=int, default=5000)
    p_run.add_argument("--webitel-port", type=int, default=8801)
    p_run.add_argument("--no-scheduler", action="store_true", help="do not fire schedules by themselves")
    p_run.add_argument("--no-seed", action="store_true", help="do not load the demo data")
    p_run.add_argument("--state-file", default=str(STATE_FILE), help="where to write URLs and tokens")
    p_run.add_argument(
        "--hours",
        choices=["always", "template"],
        help="business hours: open around the clock (default with the sandbox) or template.yaml's "
        "(default with a real Webitel)",
    )
    p_run.add_argument(
        "--webitel-url",
        default=os.environ.get("WEBITEL_URL", ""),
        help="a real Webitel engine REST base (with /api) instead of the sandbox; the token is "
        "read from WEBITEL_TOKEN",
    )
    p_run.add_argument(
        "--operator-config",
        help="a JSON file of operator-config keys laid over the template's (queue ids, hours...)",
    )
    p_run.add_argument(
        "--seed-campaign",
        action="store_true",
        help="with a real Webitel, load the demo debtor campaign too (its members are then "
        "uploaded to that Webitel by CampaignsSchedule)",
    )
    p_run.set_defaults(func=run)
    p_fire = sub.add_parser(
        "fire", parents=[running], help="fire one EventBridge schedule of the running stack now"
    )
    p_fire.add_argument("schedule")
    p_fire.set_defaults(func=fire)
    p_config = sub.add_parser(
        "config", parents=[running], help="show or change the running stack's operator config"
    )
    p_config.add_argument("assignments", nargs="*", metavar="KEY=VALUE", help="VALUE is JSON or a string")
    p_config.set_defaults(func=config)
    p_demo = sub.add_parser(
        "demo", parents=[running], help="walk the whole loop on the running stack, step by step"
    )
    p_demo.add_argument(
        "--phone", default="", help="the number to call back (required against a real Webitel)"
    )
    p_demo.set_defaults(func=demo)
    p_import = sub.add_parser(
        "import", parents=[running], help="import a CSV into the running stack (through S3)"
    )
    p_import.add_argument("kind", choices=["customers", "campaign"])
    p_import.add_argument("file")
    p_import.set_defaults(func=import_data)
    p_rebuild = sub.add_parser(
        "rebuild-projections", parents=[running], help="rebuild every projection from the event log"
    )
    p_rebuild.set_defaults(func=rebuild)
    p_redrive = sub.add_parser(
        "redrive", parents=[running], help="re-drive rejected dialer members after fixing them"
    )
    p_redrive.add_argument("entry_ids", nargs="+")
    p_redrive.set_defaults(func=redrive)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
