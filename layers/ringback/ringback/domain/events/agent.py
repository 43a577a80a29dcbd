"""What the agent desktop posts to ``POST /v1/events/agent``: Sobot call SDK messages.

The desktop subscribes to the SDK's events (``agent.on('EventAgentAll', ...)``) and posts each
message as it received it, under Sobot's names (``messageID``, ``agentStateInfo``,
``workStatusInfo``, ``reasonCode``, ``callID``, ``otherDN``...), adding who the agent is
(``agent``, Sobot's work no. or id, when the message does not carry it), when it happened
(``timestamp``, epoch ms) and, ideally, a unique ``eventId`` per message.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from ringback.domain.errors import FieldProblem
from ringback.domain.events._types import EpochMs, HookStr, LooseInt

AGENT_READY: Final = "EventAgentReady"
AGENT_NOT_READY: Final = "EventAgentNotReady"
CONNECTION_CHANGED: Final = "EventAgentConnectionChanged"
REGAIN_STATUS: Final = "EventAgentRegainStatus"
DIALING: Final = "EventDialing"
RINGING: Final = "EventRinging"
KNOWN_MESSAGES: Final = frozenset(
    {AGENT_READY, AGENT_NOT_READY, CONNECTION_CHANGED, REGAIN_STATUS, DIALING, RINGING}
)

# Sobot's occupied reasons (reasonCode).
REASONS: Final = {
    2: "DND",
    11: "Break",
    12: "Break (Training)",
    13: "Break (Meeting)",
    14: "Break (Dining)",
    15: "Break (Active)",
    16: "Break (Custom 1)",
    17: "Break (Custom 2)",
    18: "Break (Custom 3)",
}
AGENT_STATES: Final = {"1": "online", "2": "dnd"}


class AgentStateInfo(BaseModel):
    """Table 3 of the SDK: the agent's login status (in EventAgentRegainStatus)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    agent: HookStr = ""
    agentType: Literal["", "0", "1"] = ""
    companyId: HookStr = ""
    phoneType: Literal["", "sip", "pstn", "webrtc"] = ""
    thisDN: HookStr = ""
    agentState: Literal["", "1", "2"] = ""
    agentStateTimestamp: EpochMs = None
    reasonCode: LooseInt = None
    reasonCodeTimestamp: EpochMs = None
    workStatus: HookStr = ""
    workStatusTimestamp: EpochMs = None


class WorkStatusInfo(BaseModel):
    """Table 4 of the SDK: the call the agent is on (absent = not on a call)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    callID: HookStr = ""
    callType: Literal["", "Outbound", "Inbound"] = ""
    companyId: HookStr = ""
    otherDN: HookStr = ""
    otherDNRole: HookStr = ""
    thisDN: HookStr = ""
    thisDNRole: HookStr = ""
    thirdDN: HookStr = ""
    thirdDNRole: HookStr = ""


class SobotMessage(BaseModel):
    """One Sobot SDK message plus who and when. Unknown messageIDs are stored, not rejected."""

    model_config = ConfigDict(extra="allow", frozen=True, str_strip_whitespace=True)

    messageID: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    agent: HookStr = ""
    agentType: Literal["", "0", "1"] = ""
    companyId: HookStr = ""
    eventId: str = Field(default="", pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
    timestamp: EpochMs = None
    # -- fields of the status and call messages (Sobot's names)
    agentState: Literal["", "1", "2"] = ""
    reasonCode: LooseInt = None
    reasonCodeTimestamp: EpochMs = None
    phoneType: Literal["", "sip", "pstn", "webrtc"] = ""
    thisDN: HookStr = ""
    callID: HookStr = ""
    callType: Literal["", "Outbound", "Inbound"] = ""
    otherDN: HookStr = ""
    otherDNRole: HookStr = ""
    thisDNRole: HookStr = ""
    agentStateInfo: AgentStateInfo | None = None
    workStatusInfo: WorkStatusInfo | None = None

    @property
    def known(self) -> bool:
        return self.messageID in KNOWN_MESSAGES

    @property
    def agent_key(self) -> str:
        if self.agent:
            return self.agent
        return self.agentStateInfo.agent if self.agentStateInfo else ""

    @property
    def effective_reason_code(self) -> int | None:
        if self.reasonCode is not None:
            return self.reasonCode
        return self.agentStateInfo.reasonCode if self.agentStateInfo else None

    def problems(self) -> list[FieldProblem]:
        found: list[FieldProblem] = []
        if not self.agent_key:
            found.append(FieldProblem("agent", "say which agent (Sobot work no. or id) the message is about"))
        if self.messageID == AGENT_NOT_READY and self.effective_reason_code is None:
            found.append(FieldProblem("reasonCode", "EventAgentNotReady needs reasonCode"))
        for where, code in (
            ("reasonCode", self.reasonCode),
            ("agentStateInfo.reasonCode", self.agentStateInfo.reasonCode if self.agentStateInfo else None),
        ):
            if code is not None and code not in REASONS:
                found.append(FieldProblem(where, "must be 2 (DND) or 11-18 (breaks)"))
        if self.messageID == REGAIN_STATUS and self.agentStateInfo is None:
            found.append(FieldProblem("agentStateInfo", "EventAgentRegainStatus needs agentStateInfo"))
        return found

    def identity_parts(self) -> dict[str, Any]:
        if self.eventId:
            return {"agent": self.agent_key, "eventId": self.eventId}
        return self.model_dump(mode="json")

    def occurred_at(self) -> int | None:
        return self.timestamp
