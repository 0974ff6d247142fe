"""``make demo``: a real delivery, end to end, on this machine.

Starts Azurite with the core's account (``sequencingcore``), a lab's (``labsmith``) and the
app's own (``devstoreaccount1``); seeds a sequencing run under ``jdoe/mouse-rnaseq``; starts
devhost with ``function_app.py`` and a stand-in for the website's ``az-transfers`` endpoint;
POSTs the website's exact payload; shows progress; prints the manifest the website received;
checks every delivered byte; prints the operators' e-mail; and, last, once every process it
started is stopped (also on Ctrl-C), its verdict: exit 0 only if every file arrived and
verified, the website recorded the manifest and the e-mail went out.

    python -m demo [--work-dir DIR]     (default: .demo in the checkout, emptied first)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import requests

from ddd_cli.progress import progress_line
from demo.seed import SOURCE_CONTAINER, SOURCE_FOLDER, seed_run
from devhost.azurite import AzuriteServer
from devhost.email_standin import EmailStandIn
from devhost.keyvault_standin import KeyVaultStandIn
from devhost.launcher import DevHostProcess
from devhost.standin_http import TlsFiles
from devhost.website_standin import WebsiteStandIn

REPO = Path(__file__).resolve().parent.parent
WORK_DIR = REPO / ".demo"
SOURCE_ACCOUNT, SINK_ACCOUNT, WORK_ACCOUNT = "sequencingcore", "labsmith", "devstoreaccount1"
SINK_CONTAINER = "incoming"
WEBSITE_TOKEN = "demo-website-token"  # the stand-in's own; not a real credential
DELIVERY_ID = 4321
MAIL_SENDER = "DoNotReply@ddd-demo.azurecomm.net"
OPERATORS = "ops@example.edu"


def say(text: str) -> None:
    print(text, flush=True)


class Outcome(NamedTuple):
    problems: list[str]  # what went wrong (nothing: it worked)
    files: int  # the files seeded and checked


def run_demo(work_dir: Path) -> Outcome:
    """Run the demo in `work_dir` (emptied first); stops everything it started."""
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    with ExitStack() as stack:
        say("1. starting Azurite (accounts: sequencingcore, labsmith, devstoreaccount1)")
        azurite = stack.enter_context(AzuriteServer(
            accounts=[WORK_ACCOUNT, SOURCE_ACCOUNT, SINK_ACCOUNT], location=work_dir / "azurite"))
        say("2. seeding a NextSeq run under sequencingcore/deliveries/jdoe/mouse-rnaseq")
        seeded = seed_run(azurite.blob_service(SOURCE_ACCOUNT))
        say(f"   {len(seeded)} files, {sum(len(b) for b in seeded.values()) / 2**20:.1f} MiB")
        azurite.blob_service(SINK_ACCOUNT).create_container(SINK_CONTAINER)

        website = stack.enter_context(WebsiteStandIn(token=WEBSITE_TOKEN))
        transfer_uuid = str(uuid.uuid4())
        website.expect(DELIVERY_ID, transfer_uuid)
        say(f"3. website stand-in listening on {website.url}/api/v2/az-transfers/")
        tls = TlsFiles.create(work_dir / "tls")
        vault = stack.enter_context(KeyVaultStandIn(tls=tls))
        vault.set_secret("d4s2-api-token", WEBSITE_TOKEN)
        mail = stack.enter_context(EmailStandIn(tls=tls, sender=MAIL_SENDER,
                                                outbox=work_dir / "mail"))
        say(f"   Key Vault stand-in on {vault.url} (holds the website token), e-mail "
            f"stand-in on {mail.url}")

        settings = {**azurite.storage_environ(work_account=WORK_ACCOUNT),
                    "DDD_WEBSITE_URL": website.url, "DDD_KEY_VAULT_URL": vault.url,
                    "REQUESTS_CA_BUNDLE": str(tls.cert_path),
                    "DDD_NOTIFY_EMAIL_ENDPOINT": mail.url, "DDD_NOTIFY_SENDER": MAIL_SENDER,
                    "DDD_NOTIFY_TO": OPERATORS, "DDD_NOTIFY_ON_SUCCESS": "true",
                    # the only accounts a delivery may read from and write to
                    "DDD_SOURCE_ACCOUNTS": SOURCE_ACCOUNT, "DDD_SINK_ACCOUNTS": SINK_ACCOUNT,
                    "DDD_BLOCK_SIZE_BYTES": str(8 * 2**20), "DDD_CHUNK_MAX_FILES": "8"}
        host = DevHostProcess(REPO / "function_app.py", work_dir / "devhost", env=settings)
        stack.enter_context(host)
        stack.callback(lambda: say(f"   (devhost log: {host.log_path})"))
        say(f"4. devhost serving function_app.py on {host.base_url}")

        payload = {
            "Source_StorageAccount": SOURCE_ACCOUNT, "Source_FileSystem": SOURCE_CONTAINER,
            "Source_TopLevelFolder": SOURCE_FOLDER,
            "Sink_StorageAccount": SINK_ACCOUNT, "Sink_FileSystem": SINK_CONTAINER,
            "Sink_TopLevelFolder": SOURCE_FOLDER,
            "Webhook_DeliveryID": DELIVERY_ID, "Webhook_TransferUUID": transfer_uuid,
        }
        say("5. POST /api/deliveries with the website's payload")
        answer = requests.post(f"{host.base_url}/api/deliveries",
                               params={"code": host.function_key}, json=payload,
                               headers={"user-agent": "duke-data-delivery/2.0.0"}, timeout=30)
        answer.raise_for_status()
        status_url = answer.json()["deliveryStatusUri"]
        say(f"   202 Accepted; progress at {status_url.split('?')[0]}")

        view = watch(status_url, host.function_key)
        say(f"6. finished: runtime status {view['runtimeStatus']}, phase {view['phase']}")
        recorded = website.recorded(DELIVERY_ID)
        if not recorded or "manifest" not in recorded:
            return Outcome([f"the website recorded {recorded!r}; status {view}"], len(seeded))
        return Outcome(check_delivery(azurite, recorded, seeded) + show_mail(mail), len(seeded))


def show_mail(mail: EmailStandIn, timeout: float = 30) -> list[str]:
    """Print the operators' e-mail (sent once the outcome is known, after the website heard);
    what went wrong."""
    deadline = time.monotonic() + timeout
    while not mail.received() and time.monotonic() < deadline:
        time.sleep(0.2)
    received = mail.received()
    if len(received) != 1:
        return [f"the e-mail stand-in got {len(received)} mails, not 1"]
    (message,) = received
    say(f"9. the operators' e-mail (from {message['senderAddress']} to "
        f"{', '.join(r['address'] for r in message['recipients']['to'])}):")
    say(f"   Subject: {message['content']['subject']}")
    for line in message["content"]["plainText"].splitlines():
        say(f"   | {line}")
    return []


def watch(status_url: str, key: str, timeout: float = 600) -> dict:
    """Poll the status until the delivery ends, printing its progress line when it changes."""
    last = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = requests.get(status_url, params={"code": key}, timeout=30).json()
        line = f"   {progress_line(view)}"
        if line != last:
            say(line)
            last = line
        if view["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return view
        time.sleep(0.3)
    raise TimeoutError("the delivery did not finish in time")


def check_delivery(azurite: AzuriteServer, recorded: dict, seeded: dict[str, bytes]) -> list[str]:
    """Print the manifest and check every delivered file against what was seeded; what went
    wrong."""
    files = [e for e in recorded["manifest"] if not e["is_directory"]]
    say("7. the manifest the website received:")
    say(f"   {'file':<66} {'bytes':>10}  {'md5':<32}  verified by")
    for entry in files:
        name = entry["name"].removeprefix(SOURCE_FOLDER + "/")
        say(f"   {name[:66]:<66} {entry['content_length']:>10}  "
            f"{entry['content_settings']['content_md5']}  {entry.get('verification')}")
    sink = azurite.blob_service(SINK_ACCOUNT).get_container_client(SINK_CONTAINER)
    problems = []
    listed = {e["name"]: e for e in files}
    for relative, content in seeded.items():
        name = f"{SOURCE_FOLDER}/{relative}"
        expected = hashlib.md5(content).hexdigest()
        entry = listed.get(name)
        if entry is None:
            problems.append(f"{name}: not in the manifest")
            continue
        delivered = sink.download_blob(name).readall()
        actual = hashlib.md5(delivered).hexdigest()
        if actual != expected or entry["content_settings"]["content_md5"] != expected:
            problems.append(f"{name}: destination md5 {actual}, manifest "
                            f"{entry['content_settings']['content_md5']}, source {expected}")
    say(f"8. checked {len(seeded)} delivered files byte for byte at the destination")
    return problems


def verdict(outcome: Outcome) -> str:
    """The demo's last line(s)."""
    if outcome.problems:
        return "FAILED:\n   " + "\n   ".join(outcome.problems)
    return (f"OK: all {outcome.files} files arrived and verified; the website recorded the "
            "manifest and the operators got their e-mail.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--work-dir", type=Path, default=WORK_DIR,
                        help="where Azurite, devhost and the stand-ins keep their files "
                             "(emptied first; default: .demo in the checkout)")
    work_dir = parser.parse_args(argv).work_dir.resolve()
    os.chdir(REPO)
    try:
        outcome = run_demo(work_dir)
    except KeyboardInterrupt:
        say("interrupted: stopped every process the demo started")
        return 130
    # last, below the manifest and the e-mail, once everything it started has stopped
    say(verdict(outcome))
    return 1 if outcome.problems else 0


if __name__ == "__main__":
    sys.exit(main())
