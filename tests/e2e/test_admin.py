"""The operators' actions through devhost, with the admin (master) key: list, resend, cancel."""

from __future__ import annotations

import time

import pytest
import requests

pytestmark = pytest.mark.slow


def admin(app, method: str, path: str, key: str | None = None, **params) -> requests.Response:
    return requests.request(method, f"{app.host.base_url}/api/{path}",
                            params={"code": key or app.host.master_key, **params}, timeout=60)


def wait_until(check, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise TimeoutError(what)


def test_the_actions_need_the_admin_key(delivery_app):
    for method, path in (("GET", "deliveries"), ("POST", "deliveries/delivery-1-x/resend"),
                         ("POST", "deliveries/delivery-1-x/cancel")):
        answer = admin(delivery_app, method, path, key=delivery_app.host.function_key)
        assert answer.status_code == 401, (method, path)


def test_list_filters_by_status_and_time_and_pages(operator_app):
    first = operator_app.deliver(operator_app.new_delivery({"a.txt": b"a"}))
    second = operator_app.deliver(operator_app.new_delivery({"b.txt": b"b"}))
    ids, url = [], None
    answer = admin(operator_app, "GET", "deliveries", status="completed", top="1")
    while True:
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["deliveries"]) <= 1
        ids += [d["id"] for d in page["deliveries"]]
        assert all(d["runtimeStatus"] == "Completed" for d in page["deliveries"])
        url = page["next"]
        if url is None:
            break
        answer = requests.get(url, params={"code": operator_app.host.master_key}, timeout=60)
    assert {first.instance_id, second.instance_id} <= set(ids)
    assert len(ids) == len(set(ids))
    listed = next(d for d in admin(operator_app, "GET", "deliveries").json()["deliveries"]
                  if d["id"] == first.instance_id)
    assert listed["delivery_id"] == first.payload["Webhook_DeliveryID"]
    assert listed["phase"] == "delivered" and listed["verified"]["files"] == 1
    future = admin(operator_app, "GET", "deliveries", since="2999-01-01T00:00:00Z").json()
    assert future["deliveries"] == [] and future["next"] is None
    refused = admin(operator_app, "GET", "deliveries", status="lost", top="500")
    assert refused.status_code == 400
    assert {e["field"] for e in refused.json()["errors"]} == {"status", "top"}


def test_resend_posts_the_stored_result_again_and_shows_in_the_status(operator_app):
    delivery = operator_app.new_delivery({"kept.txt": b"kept"})
    operator_app.website.fail_next(1, 403)  # refused, and the vault has nothing newer
    operator_app.deliver(delivery)
    assert delivery.view["phase"] == "unreported", delivery.view
    unknown = admin(operator_app, "POST", "deliveries/delivery-0-unknown/resend")
    assert unknown.status_code == 404

    answer = admin(operator_app, "POST", f"deliveries/{delivery.instance_id}/resend")
    assert answer.status_code == 202, answer.text
    assert answer.json()["actionId"] == f"resend-{delivery.instance_id}"
    view = wait_until(lambda: (v := operator_app.status(delivery.instance_id))
                      ["operatorActions"].get("resend", {}).get("phase") == "done" and v,
                      what="the resend")
    assert view["operatorActions"]["resend"]["report"]["status"] == "recorded"
    posts = operator_app.posts_for(delivery)
    assert [p["status"] for p in posts] == [403, 200]
    assert "manifest" in posts[-1]["body"]


def test_resend_is_refused_without_a_stored_result(operator_app):
    delivery = operator_app.new_delivery({"a.txt": b"a"})
    folder = delivery.payload["Sink_TopLevelFolder"]
    operator_app.container("labsmith", "incoming").upload_blob(f"{folder}/x.txt", b"x")
    operator_app.deliver(delivery)  # refused before any copy: no manifest, no stored result
    answer = admin(operator_app, "POST", f"deliveries/{delivery.instance_id}/resend")
    assert answer.status_code == 409 and "no stored result" in answer.json()["error"]


def test_cancel_stops_the_delivery_removes_its_copy_and_tells_the_website_once(
        one_file_chunks_app):
    app = one_file_chunks_app
    files = {f"reads/file-{n:03d}.txt": f"bytes {n}".encode() for n in range(40)}
    delivery = app.start(app.new_delivery(files))
    wait_until(lambda: (app.status(delivery.instance_id)["copied"]["chunks"] or 0) >= 2,
               what="two chunks copied")
    answer = admin(app, "POST", f"deliveries/{delivery.instance_id}/cancel", reason="wrong lab")
    assert answer.status_code == 202, answer.text
    view = wait_until(lambda: (v := app.status(delivery.instance_id))
                      ["operatorActions"].get("cancel", {}).get("phase")
                      == "waiting-for-late-copies" and v, what="the cancel")
    assert view["runtimeStatus"] == "Terminated" and view["phase"] == "cancelled"
    assert view["operatorActions"]["cancel"]["report"]["status"] == "recorded"
    posts = app.posts_for(delivery)
    assert len(posts) == 1
    assert "cancelled by an operator: wrong lab" in posts[0]["body"]["error_message"]
    sink = app.container("labsmith", "incoming")
    folder = delivery.payload["Sink_TopLevelFolder"]
    left = {b.name for b in sink.list_blobs(name_starts_with=folder + "/")}
    # the claim stays, for the sweep after any late copy; the one chunk that was copying when
    # the delivery was stopped (one file a chunk, one chunk at a time) may land after the
    # first removal
    claim = f"{folder}/_ddd_transfer/run.json"
    assert claim in left and len(left - {claim}) <= 1, left
    again = admin(app, "POST", f"deliveries/{delivery.instance_id}/cancel")
    assert again.status_code == 409
    # the website's retry adopts the folder and delivers everything
    retry = app.deliver(app.retry_of(delivery))
    assert retry.view["phase"] == "delivered", retry.view
    assert retry.view["verified"]["files"] == 40
