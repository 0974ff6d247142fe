"""The operators' side through devhost: the website token from the Key Vault stand-in."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import WEBSITE_TOKEN

pytestmark = pytest.mark.slow


def test_the_token_comes_from_the_vault_and_a_rotation_needs_no_restart(operator_app):
    vault = operator_app.standins.vault
    reads_before = vault.reads_of("d4s2-api-token")
    first = operator_app.deliver(operator_app.new_delivery({"a.txt": b"first"}))
    assert first.view["phase"] == "delivered", first.view
    assert [a["status"] for a in operator_app.posts_for(first)] == [200]
    assert vault.reads_of("d4s2-api-token") == reads_before + (reads_before == 0)

    # the secret is rotated and the website takes only the new token; the app still holds the
    # old one in its cache, is refused once, reads the vault once more and delivers
    vault.set_secret("d4s2-api-token", "rotated-" + WEBSITE_TOKEN)
    operator_app.website.token = "rotated-" + WEBSITE_TOKEN
    reads_before = vault.reads_of("d4s2-api-token")
    second = operator_app.deliver(operator_app.new_delivery({"b.txt": b"second"}))
    assert second.view["phase"] == "delivered", second.view
    assert [a["status"] for a in operator_app.posts_for(second)] == [401, 200]
    assert vault.reads_of("d4s2-api-token") == reads_before + 1
    operator_app.assert_no_secret_anywhere(second.instance_id)
