"""Demo data: what a small Webitel installation looks like to ringback."""

from __future__ import annotations

from devstack.webitel_sandbox.store import Store

CALLBACK_QUEUE_ID = "1"
DEBTOR_QUEUE_ID = "2"
INBOUND_QUEUE_ID = "3"
PHONE_COMMUNICATION_TYPE = "1"

# Queue types (engine): 4 progressive dialer (an agent is reserved before the customer is
# dialled, which is what a website callback wants), 5 predictive, 1 inbound (takes no members).
PROGRESSIVE = 4
PREDICTIVE = 5
INBOUND_CALL = 1


def seed_demo(store: Store) -> None:
    """Queues 1 (callbacks), 2 (debtors), 3 (inbound); agents 11..14 with extensions 1001..1004.

    Availability of the callback queue: 2 online and free (Alice, Bob), 1 on pause (Carol).
    Debtor queue: Alice online, Carol on pause, Dave offline.
    """
    store.add_communication_type(PHONE_COMMUNICATION_TYPE, "Phone")
    store.add_queue(CALLBACK_QUEUE_ID, "Website callbacks", PROGRESSIVE)
    store.add_queue(DEBTOR_QUEUE_ID, "Debtors", PREDICTIVE)
    store.add_queue(INBOUND_QUEUE_ID, "Inbound line", INBOUND_CALL)
    both = (CALLBACK_QUEUE_ID, DEBTOR_QUEUE_ID)
    store.add_agent("11", "Alice Novak", "1001", user_id="101", status="online", queue_ids=both)
    store.add_agent(
        "12", "Bob Dvorak", "1002", user_id="102", status="online", queue_ids=(CALLBACK_QUEUE_ID,)
    )
    store.add_agent("13", "Carol Svoboda", "1003", user_id="103", status="pause", queue_ids=both)
    store.add_agent("14", "Dave Cerny", "1004", user_id="104", status="offline", queue_ids=(DEBTOR_QUEUE_ID,))
