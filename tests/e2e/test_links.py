"""The links answers carry (upload answer, share page, ShareX file, delete link): behind a
trusted proxy they follow its X-Forwarded-Proto/-Host, from anyone else those are ignored; with
ENLARGER_ALLOWED_HOSTS a request for another host is 400 host_not_allowed. The test client
connects from 127.0.0.1, inside the default ENLARGER_TRUSTED_PROXIES."""

from __future__ import annotations

import re
from typing import Any

import pytest

from enlarger.settings import Settings
from tests.e2e.conftest import Stack, StackFactory, make_jpeg

pytestmark = pytest.mark.e2e

PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "img.example.com"}


async def _links(stack: Stack, headers: dict[str, str]) -> list[str]:
    """Every link one upload, its share page and the ShareX file carry."""
    form_headers = {"Content-Type": "multipart/form-data; boundary=x", **headers}
    body = (
        b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + make_jpeg(64, 48) + b"\r\n--x--\r\n"
    )
    upload = await stack.client.post("/v1/images", data=body, headers=form_headers)
    assert upload.status == 201, await upload.text()
    answer: dict[str, Any] = await upload.json()
    links = [answer["url"], answer["delete_url"], answer["delete_page"], *answer["sizes"].values()]
    page = await (await stack.client.get(f"/p/{answer['id']}", headers=headers)).text()
    on_page = re.findall(r'(?:property="og:url" content|rel="canonical" href)="([^"]+)"', page)
    assert len(on_page) == 2, page
    sharex = await (await stack.client.get("/v1/sharex.sxcu", headers=headers)).json()
    return [*links, *on_page, sharex["RequestURL"]]


async def test_links_follow_a_trusted_proxys_scheme_and_host(stack: Stack) -> None:
    links = await _links(stack, PROXIED)
    assert len(links) >= 9
    assert all(link.startswith("https://img.example.com/") for link in links), links
    # a value the client wrote sits left of the one the proxy appended: never read
    spoofed = {"X-Forwarded-Host": "evil.example, img.example.com", "X-Forwarded-Proto": "https"}
    assert all(link.startswith("https://img.example.com/") for link in await _links(stack, spoofed))
    nonsense = {"X-Forwarded-Host": "evil.example/path?", "X-Forwarded-Proto": "javascript"}
    host = f"{stack.client.host}:{stack.client.port}"
    assert all(link.startswith(f"http://{host}/") for link in await _links(stack, nonsense))


async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(
    backend_settings: Settings, make_stack: StackFactory
) -> None:
    stack = await make_stack(backend_settings, trusted_proxies="10.0.0.0/8")
    host = f"{stack.client.host}:{stack.client.port}"
    links = await _links(stack, PROXIED)
    assert all(link.startswith(f"http://{host}/") for link in links), links


async def test_allowed_hosts(backend_settings: Settings, make_stack: StackFactory) -> None:
    stack = await make_stack(backend_settings, allowed_hosts="img.example.com,cdn.example:8443")
    for host in ("img.example.com", "IMG.example.com:8080", "cdn.example:8443"):
        assert (await stack.client.get("/v1/limits", headers={"Host": host})).status == 200
    for host in ("evil.example", "cdn.example:80", "127.0.0.1"):
        refused = await stack.client.get("/v1/limits", headers={"Host": host})
        assert refused.status == 400, host
        assert refused.headers["Cache-Control"] == "no-store"
        assert (await refused.json())["error"]["code"] == "host_not_allowed"
    for probe in ("/healthz", "/readyz", "/metrics"):  # load balancers call them by address
        assert (await stack.client.get(probe, headers={"Host": "10.1.2.3:8080"})).status == 200
    # the trusted proxy's X-Forwarded-Host is the host asked for, whatever Host it sends
    links = await _links(stack, {"Host": "10.1.2.3", **PROXIED})
    assert all(link.startswith("https://img.example.com/") for link in links)
    forged = await stack.client.get(
        "/v1/limits", headers={"Host": "img.example.com", "X-Forwarded-Host": "evil.example"}
    )
    assert forged.status == 400
    untrusted = await make_stack(stack.settings, trusted_proxies="10.0.0.0/8")
    ignored = await untrusted.client.get(
        "/v1/limits", headers={"Host": "evil.example", "X-Forwarded-Host": "img.example.com"}
    )
    assert ignored.status == 400


def test_allowed_hosts_must_be_hosts() -> None:
    with pytest.raises(ValueError, match="comma-separated host names"):
        Settings(allowed_hosts="img.example.com, https://img.example.com/")
    assert Settings(allowed_hosts=" Img.Example.com. ,[::1]:8080").allowed_host_list == (
        "img.example.com",
        "[::1]:8080",
    )
