"""One Lambda execution environment: imports a handler once, then serves invocations.

Run as a script by ``devstack.functions`` with the function's environment (from template.yaml)
and an import path of its code folder and the layer, like Lambda's /var/task and /opt/python.
It talks to the gateway over an inherited socket; stdout/stderr are the function's logs.
Standard library only: it must not put anything of the local stack on the function's path.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import traceback
from multiprocessing.connection import Connection

# This file's folder is sys.path[0]; take what we need from it, then hide it from the function.
from lambda_context import LambdaContext  # type: ignore[import-not-found]

sys.path.pop(0)


def main() -> None:
    # Ctrl-C on the console reaches the whole process group: the stack stops its workers itself
    # (a closed socket ends this loop), so a worker never dies with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    handler_spec, fd = sys.argv[1], int(sys.argv[2])
    conn = Connection(fd)
    module_name, func_name = handler_spec.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), func_name)
    except Exception as error:  # an import error is Runtime.ImportModuleError on Lambda
        traceback.print_exc()
        conn.send({"ok": False, "errorType": "Runtime.ImportModuleError", "errorMessage": str(error)})
        return
    conn.send({"ready": True})
    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
    memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        context = LambdaContext(function_name, memory, float(message.get("timeout", 10)))
        try:
            result = handler(message["event"], context)
            conn.send({"ok": True, "result": result})
        except Exception as error:
            traceback.print_exc()
            conn.send({"ok": False, "errorType": type(error).__name__, "errorMessage": str(error)})
        finally:
            sys.stdout.flush()
            sys.stderr.flush()


if __name__ == "__main__":
    main()
