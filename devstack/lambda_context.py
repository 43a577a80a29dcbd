"""The Lambda context object handlers receive (stdlib only: the worker imports it bare)."""

from __future__ import annotations

import time
import uuid


class LambdaContext:
    def __init__(
        self,
        function_name: str,
        memory_mb: int = 512,
        timeout_s: float = 10.0,
        region: str = "eu-central-1",
        account: str = "123456789012",
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_mb
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))
