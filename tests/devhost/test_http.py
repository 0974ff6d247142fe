"""devhost serves HTTP triggers as the Functions host does: routes, methods, keys."""

import requests


def test_function_key_required_for_function_level(sample_host):
    url = f"{sample_host.base_url}/api/orchestrators/fan_out"
    assert requests.post(url, json=1, timeout=10).status_code == 401
    assert requests.post(url, params={"code": "wrong"}, json=1, timeout=10).status_code == 401
    by_header = requests.post(url, headers={"x-functions-key": sample_host.function_key}, json=1,
                              timeout=10)
    assert by_header.status_code == 202
    assert by_header.headers["Location"] == by_header.json()["statusQueryGetUri"]


def test_anonymous_route_with_optional_parameter(sample_host):
    assert requests.get(f"{sample_host.base_url}/api/hello/ada", timeout=10).text == "hello ada"
    assert requests.get(f"{sample_host.base_url}/api/hello", timeout=10).text == "hello world"


def test_unknown_route_and_wrong_method(sample_host):
    """A method the trigger does not declare is 404, not 405.

    The host maps each HTTP trigger as a route constrained to its methods
    (azure-functions-host src/WebJobs.Script.WebHost/WebScriptHostHttpRoutesManager.cs,
    InitializeHttpFunctionRoutes: ``new HttpMethodRouteConstraint(httpTrigger.Methods)``), so
    another method matches no route at all.
    """
    assert requests.get(f"{sample_host.base_url}/api/nothing-here", timeout=10).status_code == 404
    url = f"{sample_host.base_url}/api/orchestrators/fan_out"
    for method in ("GET", "PUT", "DELETE"):
        wrong = requests.request(method, url, params={"code": sample_host.function_key},
                                 timeout=10)
        assert wrong.status_code == 404, method
        assert "Allow" not in wrong.headers
    # the anonymous GET-only route: POST finds no route either, key or not
    assert requests.post(f"{sample_host.base_url}/api/hello/ada", timeout=10).status_code == 404


def test_unknown_orchestrator_is_a_client_error(sample_host):
    answer = requests.post(f"{sample_host.base_url}/api/orchestrators/no_such_thing",
                           params={"code": sample_host.function_key}, json=1, timeout=10)
    assert answer.status_code == 500
    assert "no_such_thing" in sample_host.logs()


def test_a_newline_in_a_route_value_reaches_the_function(sample_host):
    """A route value is decoded and handed to the function whatever it holds (the host's
    router matches the route template against the decoded path), so the app, not devhost,
    decides what to answer for "a%0Ab"."""
    answer = requests.get(f"{sample_host.base_url}/api/hello/a%0Ab", timeout=10)
    assert answer.status_code == 200
    assert answer.text == "hello a\nb"
