"""``ringback`` / ``python -m devstack``: run the local stack and talk to the running one."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from devstack.stack import STATE_FILE, LocalStack, StackOptions


def _stack_json(state_file: Path = STATE_FILE) -> dict[str, Any]:
    if not state_file.exists():
        sys.exit("the local stack is not running: start it with `make run`")
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
    stack = LocalStack(
        StackOptions(
            api_port=args.api_port,
            moto_port=args.moto_port,
            webitel_port=args.webitel_port,
            scheduler=not args.no_scheduler,
            seed=not args.no_seed,
            state_file=Path(args.state_file),
        )
    )
    stopped = threading.Event()

    def _stop(*_: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    stack.start()
    state = stack.state()
    print("\nringback local stack is up\n", flush=True)
    for name, url in state["urls"].items():
        print(f"  {name:<14} {url}")
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
    print("\nstopping...", flush=True)
    stack.stop()
    return 0


def fire(args: argparse.Namespace) -> int:
    state = _stack_json()
    print(json.dumps(_post(f"{state['urls']['api']}/_local/schedules/{args.schedule}"), indent=2))
    return 0


def import_data(args: argparse.Namespace) -> int:
    state = _stack_json()
    if args.kind == "customers":
        from devstack.commands import import_customers

        return import_customers.run(args.file, state)
    from devstack.commands import import_campaign

    return import_campaign.run(args.file, state)


def rebuild(_: argparse.Namespace) -> int:
    from devstack.commands import rebuild_projections

    return rebuild_projections.run(_stack_json())


def redrive(args: argparse.Namespace) -> int:
    from devstack.commands import redrive as redrive_command

    return redrive_command.run(args.entry_ids, _stack_json())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ringback", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="start the local stack in the foreground")
    p_run.add_argument("--api-port", type=int, default=3000)
    p_run.add_argument("--moto-port", type=int, default=5000)
    p_run.add_argument("--webitel-port", type=int, default=8801)
    p_run.add_argument("--no-scheduler", action="store_true", help="do not fire schedules by themselves")
    p_run.add_argument("--no-seed", action="store_true", help="do not load the demo data")
    p_run.add_argument("--state-file", default=str(STATE_FILE), help="where to write URLs and tokens")
    p_run.set_defaults(func=run)
    p_fire = sub.add_parser("fire", help="fire one EventBridge schedule of the running stack now")
    p_fire.add_argument("schedule")
    p_fire.set_defaults(func=fire)
    p_import = sub.add_parser("import", help="import a CSV into the running stack (through S3)")
    p_import.add_argument("kind", choices=["customers", "campaign"])
    p_import.add_argument("file")
    p_import.set_defaults(func=import_data)
    p_rebuild = sub.add_parser("rebuild-projections", help="rebuild every projection from the event log")
    p_rebuild.set_defaults(func=rebuild)
    p_redrive = sub.add_parser("redrive", help="re-drive rejected dialer members after fixing them")
    p_redrive.add_argument("entry_ids", nargs="+")
    p_redrive.set_defaults(func=redrive)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
