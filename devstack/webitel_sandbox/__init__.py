"""A local fake of the Webitel engine API subset ringback uses, with fault knobs.

Run standalone: ``python -m devstack.webitel_sandbox --port 8801 --token T``.
"""

from devstack.webitel_sandbox.faults import Faults
from devstack.webitel_sandbox.seed import CALLBACK_QUEUE_ID, DEBTOR_QUEUE_ID, INBOUND_QUEUE_ID
from devstack.webitel_sandbox.server import ACCESS_HEADER, DEFAULT_TOKEN, WebitelSandbox

__all__ = [
    "ACCESS_HEADER",
    "CALLBACK_QUEUE_ID",
    "DEBTOR_QUEUE_ID",
    "DEFAULT_TOKEN",
    "INBOUND_QUEUE_ID",
    "Faults",
    "WebitelSandbox",
]
