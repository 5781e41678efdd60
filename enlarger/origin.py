"""Where a request came in (scheme and host), the base of the links answers carry:
``ENLARGER_PUBLIC_URL``, else the ``Host`` or a trusted proxy's ``X-Forwarded-*``; a host outside
``ENLARGER_ALLOWED_HOSTS`` is 400, but on probes and metrics (docs/security.md, "Links and hosts").
"""

from __future__ import annotations

from aiohttp import web

from enlarger.clientaddr import ClientAddress
from enlarger.errors import HostNotAllowed
from enlarger.settings import HOST, Settings

UNCHECKED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class Origin:
    def __init__(self, settings: Settings) -> None:
        self._public_url = settings.public_url
        self._allowed = frozenset(settings.allowed_host_list)
        self._proxies = ClientAddress(settings.trusted_networks)

    def scheme_and_host(self, request: web.Request) -> tuple[str, str]:
        scheme, host = request.scheme, request.host
        if self._proxies.trusted_peer(request):
            proto = _last(request, "X-Forwarded-Proto").lower()
            forwarded_host = _last(request, "X-Forwarded-Host")
            scheme = proto if proto in ("http", "https") else scheme
            host = forwarded_host if HOST.fullmatch(forwarded_host) else host
        return scheme, host

    def base_url(self, request: web.Request) -> str:
        if self._public_url:
            return self._public_url
        scheme, host = self.scheme_and_host(request)
        return f"{scheme}://{host}"

    @property
    def checks_hosts(self) -> bool:
        """Whether ``ENLARGER_ALLOWED_HOSTS`` is set."""
        return bool(self._allowed)

    def check(self, request: web.Request) -> None:
        """``400 host_not_allowed`` for a host outside ``ENLARGER_ALLOWED_HOSTS`` (when set)."""
        if not self._allowed or request.path in UNCHECKED_PATHS:
            return
        host = self.scheme_and_host(request)[1]
        if not self.allows(host):
            raise HostNotAllowed("this server does not answer for this host", host=host[:255])

    def allows(self, host: str) -> bool:
        """An entry with a port allows that host and port; one without, the host on any port."""
        full = host.strip().lower()
        name = full[: full.find("]") + 1] if full.startswith("[") else full.split(":", 1)[0]
        return bool({full, name.rstrip(".")} & self._allowed)


def _last(request: web.Request, name: str) -> str:
    values = ",".join(request.headers.getall(name, [])).split(",")
    return values[-1].strip()


ORIGIN: web.AppKey[Origin] = web.AppKey("origin", Origin)


def base_url(request: web.Request) -> str:
    """``ENLARGER_PUBLIC_URL`` when set, else the scheme and host the request came in on
    (through a trusted proxy: the ones it forwarded)."""
    return request.app[ORIGIN].base_url(request)
