"""Failures devhost reports as Azure does: the custom status limit and activity failure text."""

import json

from devhost.limits import custom_status_error, newtonsoft_json

TOO_LARGE = ("Orchestrator function 'big_status' failed: The UTF-16 size of the "
             "JSON-serialized payload must not exceed 16 KB. The current payload size is 17 KB.")


def kinds(host, instance_id: str) -> list[str]:
    return [e["EventType"] for e in host.status(instance_id, history=True)["historyEvents"]]


def test_custom_status_over_16_kb_fails_the_instance_before_its_actions(sample):
    """A custom status of 17 KB fails the orchestration; its episode schedules nothing.

    azure-functions-durable-extension: ``OutOfProcOrchestrationShim.ScheduleDurableTaskEvents``
    calls ``SetCustomStatus`` before it replays the episode's actions;
    ``DurableOrchestrationContext.SetCustomStatus`` serializes with
    ``MessagePayloadDataConverter.Serialize(value, maxSizeInKB: 16)``, which throws
    "The UTF-16 size of the JSON-serialized payload must not exceed {0:N0} KB. The current
    payload size is {1:N0} KB." (size = (int)(UTF-16 bytes / 1024.0)), and
    ``TaskOrchestrationShim.InvokeUserCodeAndHandleResults`` fails the instance with
    "Orchestrator function '<name>' failed: <message>".
    """
    # a JSON string of 8702 characters and its quotes: 8704 UTF-16 code units = 17 KB
    status = sample.run("big_status", {"char": "x", "count": 8702})
    assert status["runtimeStatus"] == "Failed"
    assert status["output"] == TOO_LARGE
    # the custom status stays the last one the extension accepted
    assert status["customStatus"] == {"phase": "small"}
    # the failing episode's activity was never scheduled: only the first one is in history
    assert kinds(sample.host, status["instanceId"]).count("TaskScheduled") == 1


def test_custom_status_under_the_limit_counts_utf16_not_utf8(sample):
    """15 KB passes; so does 16.99 KB of "€" (2 UTF-16 bytes each, 3 in UTF-8: 25 KB)."""
    fifteen = sample.run("big_status", {"char": "x", "count": 15 * 512 - 2})
    assert fifteen["runtimeStatus"] == "Completed", fifteen
    assert len(fifteen["customStatus"]) == 15 * 512 - 2
    euros = sample.run("big_status", {"char": "€", "count": 8701})  # 17406 bytes: 16 KB
    assert euros["runtimeStatus"] == "Completed", euros
    assert kinds(sample.host, euros["instanceId"]).count("TaskScheduled") == 2
    assert len(json.dumps(euros["customStatus"], ensure_ascii=False).encode()) > 25 * 1024


def test_custom_status_size_is_counted_as_newtonsoft_writes_it():
    assert custom_status_error("x" * 8701) is None  # 8703 code units: 17406 bytes, 16 KB
    assert custom_status_error("x" * 8702) is not None
    assert custom_status_error("😀" * 4350) is None  # 2 code units each: 17404 bytes
    assert custom_status_error("😀" * 4351) is not None
    # Newtonsoft writes U+2028 escaped (6 characters), Python's json does not
    assert newtonsoft_json(["\u2028", {"a": 1}]) == '["\\u2028",{"a":1}]'


def reason_and_details(text: str) -> tuple[str, str]:
    """The Durable SDK raises Exception(f"{Reason} \\n {Details}") for a failed activity."""
    reason, _, details = text.partition(" \n ")
    return reason, details


def test_activity_failure_reaches_the_orchestrator_in_the_hosts_words(sample):
    """"Activity function '<name>' failed:  <Type>: <message>" (two spaces), sanitized.

    - azure-functions-python-worker ``dispatcher.py`` ``_serialize_exception``: the worker's
      message is "<ExceptionType>: <message>".
    - azure-functions-host ``src/WebJobs.Script/Workers/Rpc/RpcException.cs``: the host's
      exception reads "Result: Failure\\nException: {Sanitizer.Sanitize(message)}\\nStack: ..."
    - azure-functions-durable-extension ``OutOfProcExceptionHelpers.
      TryGetExceptionWithFriendlyMessage`` keeps what follows "\\nException:" (its leading
      space included) up to "\\nStack:", and ``TaskActivityShim.RunAsync`` reports
      "Activity function '{name}' failed: {message}".
    - azure-functions-host ``src/WebJobs.Script/Sanitizer.cs``: "&sig=", "?sig=", "AccountKey=",
      "Password=", "key=" ... and what follows them up to a quote or "<" become
      "[Hidden Credential]".
    """
    secret_url = ("copy from https://core.blob.core.windows.net/runs/a.fastq?sv=2024-05-04"
                  "&se=2030-01-01&sig=abc123SECRET failed")
    status = sample.run("catches_failure", secret_url)
    text = status["output"]
    assert reason_and_details(text)[0] == (
        "Activity function 'leaky' failed:  RuntimeError: copy from https://core.blob.core."
        "windows.net/runs/a.fastq?sv=2024-05-04&se=2030-01-01[Hidden Credential]")
    assert "abc123SECRET" not in text  # nor in the details the SDK appends after the reason

    status = sample.run("catches_failure", "login failed: Password=hunter2' for 'svc'")
    assert reason_and_details(status["output"])[0] == (
        "Activity function 'leaky' failed:  RuntimeError: login failed: "
        "[Hidden Credential]' for 'svc'")
    assert "hunter2" not in status["output"]


def test_bare_sig_and_code_are_not_credentials_to_the_host(sample):
    """The host's tokens are "&sig=", "?sig=", "&code=", "?code=": a bare "sig=" or "code=" is
    passed on as it is (Sanitizer.cs, CredentialTokens), here as there."""
    status = sample.run("catches_failure", "bad sig=abc123 and code=xyz")
    assert reason_and_details(status["output"])[0] == (
        "Activity function 'leaky' failed:  RuntimeError: bad sig=abc123 and code=xyz")
    # the details the SDK appends are the extension's serialized exception (JSON)
    details = json.loads(reason_and_details(status["output"])[1])
    assert details["Message"] == " RuntimeError: bad sig=abc123 and code=xyz"
    assert details["InnerException"]["Message"].startswith(
        "Result: Failure\nException: RuntimeError: bad sig=abc123 and code=xyz\nStack: ")
