"""``ENLARGER_PRESETS`` checked at start: every parameter of every preset is one a view accepts,
with a value it accepts, and the preset as a whole parses, so that ``?preset=<name>`` can only fail
for the query's own parameters. A refusal is a settings error naming the preset and the parameter
(settings read the JSON; only the view feature knows the parameters)."""

from __future__ import annotations

from enlarger.errors import ConfigurationError, EnlargerError
from enlarger.proxy.spec import ALIASES, ViewPolicy, parse_spec
from enlarger.settings import Settings

VARIABLE = "ENLARGER_PRESETS"


def check(settings: Settings) -> None:
    """Raise :class:`ConfigurationError` at the first preset a view would refuse."""
    policy = ViewPolicy.from_settings(settings)
    for name, params in settings.presets.items():
        for parameter, value in params.items():
            _check_one(name, parameter, value, policy)
        _parse(name, [("preset", name)], policy, "")


def _check_one(name: str, parameter: str, value: str, policy: ViewPolicy) -> None:
    if parameter in ALIASES["preset"]:
        _refuse(name, f"parameter {parameter!r}: a preset cannot name another preset")
    _parse(name, [(parameter, value)], policy, f"parameter {parameter!r}: ")


def _parse(name: str, query: list[tuple[str, str]], policy: ViewPolicy, where: str) -> None:
    try:
        parse_spec(query, policy)
    except EnlargerError as exc:
        known = [parameter for parameter in ALIASES if parameter != "preset"]
        hint = f" (use one of {', '.join(known)})" if exc.code == "unknown_parameter" else ""
        _refuse(name, f"{where}{exc.message}{hint}")


def _refuse(name: str, problem: str) -> None:
    raise ConfigurationError(f"invalid settings: {VARIABLE}: preset {name!r}: {problem}")
