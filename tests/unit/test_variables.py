"""The variable declarations: one per name, parsers per kind, precedence, and secret-safe errors."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from extension import variables as v
from extension.variables import BadValue

ROOT = Path(__file__).resolve().parents[2]
DECLARED = v.declared()


def test_each_variable_is_declared_once_under_its_own_name() -> None:
    names = [var.name for var in DECLARED]
    assert len(names) == len(set(names))
    for attr, value in vars(v).items():
        if isinstance(value, v.Variable):
            assert attr == value.name, f"{attr} declares {value.name}"
    aliases = [alias for var in DECLARED for alias in var.aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(names)
    for var in DECLARED:
        assert var.section in v.SECTIONS and var.doc
        assert all(f in DECLARED for f in var.fallbacks), f"{var.name}: undeclared fallback"


def test_per_signal_otlp_variables_are_wired_to_their_signal_and_base() -> None:
    assert set(v.OTLP_PER_SIGNAL) == set(v.OTLP_SIGNALS)
    for signal, options in v.OTLP_PER_SIGNAL.items():
        for option in ("endpoint", "protocol", "headers", "timeout", "compression", "certificate"):
            var = getattr(options, option)
            assert var.name == f"OTEL_EXPORTER_OTLP_{signal.upper()}_{option.upper()}"
            base = getattr(v, f"OTEL_EXPORTER_OTLP_{option.upper()}")
            assert var.fallbacks == (() if option == "endpoint" else (base,))
            assert var.secret == base.secret and type(var) is type(base)


@pytest.mark.parametrize("var", [var for var in DECLARED if var.render()], ids=lambda var: var.name)
def test_the_documented_default_reads_back_as_the_default(var: v.Variable) -> None:
    """The README shows `render()`; setting that value must give exactly the default."""
    assert var.parse(var.render()) == var.get({}) == var.default  # type: ignore[attr-defined]


SECRET_WORDS = ("HEADERS", "TOKEN", "KEY", "ENDPOINT", "URL", "URI", "SECRET_ACCESS", "PATTERNS")


def test_every_variable_that_can_hold_a_secret_is_marked_secret() -> None:
    """A guard for new declarations: a name that says it carries credentials must be marked."""
    unmarked = [
        var.name
        for var in DECLARED
        if any(word in var.name for word in SECRET_WORDS) and not var.secret and not isinstance(var, v.Flag)
    ]
    assert not unmarked


def test_flags_integers_numbers_choices() -> None:
    assert v.SIDECAR_DISABLED.get({"SIDECAR_DISABLED": " Yes "}) is True
    assert v.SIDECAR_DISABLED.get({"SIDECAR_DISABLED": "   "}) is False  # blank means unset
    assert v.SIDECAR_TELEMETRY_PORT.get({"SIDECAR_TELEMETRY_PORT": "8080"}) == 8080
    assert v.SIDECAR_REFRESH_AHEAD_FRACTION.get({"SIDECAR_REFRESH_AHEAD_FRACTION": "0.5"}) == 0.5
    assert v.SIDECAR_FLUSH_POLICY.get({"SIDECAR_FLUSH_POLICY": "END"}) == "end"
    for var, bad in [
        (v.SIDECAR_DISABLED, "maybe"),
        (v.SIDECAR_TELEMETRY_PORT, "65536"),
        (v.SIDECAR_TELEMETRY_PORT, "0x10"),
        (v.SIDECAR_REFRESH_AHEAD_FRACTION, "nan"),
        (v.SIDECAR_FLUSH_POLICY, "whenever"),
        (v.SIDECAR_TELEMETRY_TYPES, "platform,gossip"),
    ]:
        with pytest.raises(BadValue) as err:
            var.get({var.name: bad})
        assert str(err.value).startswith(f"{var.name}={bad!r} is not ")  # not secret: shown
        assert err.value.name == var.name


def test_subset_dedupes_and_names_the_unknown_entry() -> None:
    assert v.SIDECAR_EXPORTERS.get({"SIDECAR_EXPORTERS": "otlp, STDOUT,otlp"}) == ("otlp", "stdout")
    with pytest.raises(BadValue, match="entry 2 is unknown"):
        v.SIDECAR_EXPORTERS.get({"SIDECAR_EXPORTERS": "otlp,carrier-pigeon"})


def test_pairs_decode_and_keep_equals_in_values() -> None:
    env = {"OTEL_RESOURCE_ATTRIBUTES": "team=core, key%20x=a%3Db==,,"}
    assert v.OTEL_RESOURCE_ATTRIBUTES.get(env) == (("team", "core"), ("key x", "a=b=="))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("45", 45.0), ("90s", 90.0), ("5m", 300.0), ("1h", 3600.0), ("1500ms", 1.5), ("2.5 s", 2.5)],
)
def test_durations(value: str, seconds: float) -> None:
    var = v.AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS
    assert var.get({var.name: value}) == seconds


@pytest.mark.parametrize("value", ["", "s", "1.", ".5", "5d", "-3", "1e3", "\u0663"])
def test_bad_durations(value: str) -> None:
    var = v.AWS_APPCONFIG_EXTENSION_POLL_INTERVAL_SECONDS
    if value:
        with pytest.raises(BadValue, match="is not a duration"):
            var.get({var.name: value})


def test_prefetch_and_appconfig_targets() -> None:
    env = {"SIDECAR_PREFETCH": "sm:db/creds, ssm:/app/key?withDecryption=true"}
    assert v.SIDECAR_PREFETCH.get(env) == (("secretsmanager", "db/creds", False), ("ssm", "/app/key", True))
    with pytest.raises(BadValue, match="entry 2 is not sm:NAME"):
        v.SIDECAR_PREFETCH.get({"SIDECAR_PREFETCH": "sm:a,vault:x"})
    var = v.AWS_APPCONFIG_EXTENSION_PREFETCH_LIST
    env = {var.name: "/applications/my%20app/environments/prod/configurations/flags,a:e:c"}
    assert var.get(env) == (("my app", "prod", "flags"), ("a", "e", "c"))
    for bad in ("a:e", "/applications/a/environments/e", "/applications//environments/e/configurations/c"):
        with pytest.raises(BadValue, match="entry 1 is neither form"):
            var.get({var.name: bad})


def test_fallbacks_follow_the_declared_precedence() -> None:
    """Our SIDECAR_* variable, then the standard one, then the default."""
    spans = v.SIDECAR_SPANS_ENABLED
    assert spans.get({}) is True
    assert spans.get({"OTEL_TRACES_EXPORTER": "none"}) is False
    assert spans.get({"OTEL_TRACES_EXPORTER": "otlp"}) is True
    assert spans.get({"OTEL_TRACES_EXPORTER": "none", "SIDECAR_SPANS_ENABLED": "true"}) is True
    assert spans.get({"OTEL_TRACES_EXPORTER": "otlp", "SIDECAR_SPANS_ENABLED": "false"}) is False
    assert v.AWS_REGION.get({}) == "us-east-1"
    assert v.AWS_REGION.get({"AWS_DEFAULT_REGION": "eu-west-1"}) == "eu-west-1"
    assert v.AWS_REGION.get({"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "ap-south-1"}) == "ap-south-1"
    token = v.AWS_TOKEN
    assert token.get({"AWS_CONTAINER_AUTHORIZATION_TOKEN": "c"}) == "c"
    assert token.get({"AWS_CONTAINER_AUTHORIZATION_TOKEN": "c", "AWS_SESSION_TOKEN": "s"}) == "s"
    assert token.get({"AWS_SESSION_TOKEN": "s", "AWS_TOKEN": "t"}) == "t"
    timeout = v.OTEL_EXPORTER_OTLP_LOGS_TIMEOUT
    assert timeout.get({"OTEL_EXPORTER_OTLP_TIMEOUT": "5"}) == 5
    assert timeout.get({"OTEL_EXPORTER_OTLP_TIMEOUT": "5", timeout.name: "7"}) == 7
    # a bad fallback is reported under its own name
    with pytest.raises(BadValue) as err:
        timeout.get({"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"})
    assert err.value.name == "OTEL_EXPORTER_OTLP_TIMEOUT"


def test_aliases_are_read_after_the_name() -> None:
    port = v.PARAMETERS_SECRETS_EXTENSION_HTTP_PORT
    assert port.get({"PARAMETERS_AND_SECRETS_EXTENSION_HTTP_PORT": "3000"}) == 3000
    assert port.get({"PARAMETERS_AND_SECRETS_EXTENSION_HTTP_PORT": "3000", port.name: "4000"}) == 4000
    with pytest.raises(BadValue, match=r"^PARAMETERS_AND_SECRETS_EXTENSION_HTTP_PORT="):
        port.get({"PARAMETERS_AND_SECRETS_EXTENSION_HTTP_PORT": "x"})


# ---- no secret in any error message ------------------------------------------------------------

SECRET = "sk_live_51HxQpLkT0pS3cr3t"


def _message(var: v.Variable, value: str) -> str:
    with pytest.raises(BadValue) as err:
        var.get({var.name: value})
    return str(err.value)


@pytest.mark.parametrize(
    "var", [v.OTEL_EXPORTER_OTLP_HEADERS, v.OTEL_EXPORTER_OTLP_TRACES_HEADERS, v.SIDECAR_HTTP_JSON_HEADERS]
)
def test_a_bad_header_list_is_named_by_position_never_echoed(var: v.Variable) -> None:
    message = _message(var, f"x-api-key={SECRET},dd-site")
    assert SECRET not in message and "x-api-key" not in message and "dd-site" not in message
    assert message == f"{var.name} {v.HIDDEN} is not a k=v,k2=v2 list (entry 2 of 2 has no '=')"
    assert "entry 1 of 3 has an empty key" in _message(var, f"={SECRET},a=b,c=d")


@pytest.mark.parametrize(
    "value",
    [
        f"ftp://user:{SECRET}@collector.example.com/",
        f"user:{SECRET}@collector.example.com:4318",
        f"https://collector.example.com:{SECRET}/",
        f"https://collector.example.com/hooks/{SECRET} x",
        f"https://collector.example.com/?api_key={SECRET}&x= y",
        f"{SECRET}",
    ],
)
@pytest.mark.parametrize(
    "var", [v.OTEL_EXPORTER_OTLP_ENDPOINT, v.OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, v.SIDECAR_HTTP_JSON_URL]
)
def test_a_bad_endpoint_shows_scheme_and_host_at_most(var: v.Variable, value: str) -> None:
    message = _message(var, value)
    assert SECRET not in message and "user" not in message
    assert message.startswith(var.name) and "is not an http(s) URL" in message


def test_show_url_strips_credentials_path_and_query() -> None:
    url = f"https://user:{SECRET}@collector.example.com:4318/v1/traces?k={SECRET}#{SECRET}"
    assert v.show_url(url) == "'https://collector.example.com:4318/...'"
    assert v.show_url("http://[::1]:4318") == "'http://[::1]:4318'"
    assert v.show_url(f"{SECRET}@host") == v.HIDDEN


def test_redaction_patterns_are_never_echoed() -> None:
    var = v.SIDECAR_REDACT_PATTERNS
    assert var.get({var.name: f'["{SECRET}", "card=\\\\d+"]'}) == (SECRET, "card=\\d+")
    for bad, detail in [(f"({SECRET}", "pattern 1: missing ), unterminated subpattern at character 0"),
                        (f'["ok", "[{SECRET}"]', "pattern 2: unterminated character set at character 0"),
                        (f'["{SECRET}"', "JSON: Expecting ',' delimiter at character"),
                        (f'["{SECRET}", 1]', "the JSON array must hold strings")]:  # fmt: skip
        message = _message(var, bad)
        assert SECRET not in message and detail in message


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=8, max_size=40),
    data=st.data(),
)
def test_no_secret_variable_ever_echoes_its_value(secret: str, data: st.DataObject) -> None:
    """Whatever the value and whatever the kind, a secret-bearing variable's message shows none
    of it (an endpoint: at most its scheme and host, which the generated secret is not)."""
    var = data.draw(st.sampled_from([var for var in DECLARED if var.secret]))
    shape = data.draw(
        st.sampled_from(["{s}", "k={s},{s}", "https://u:{s}@h/{s}", "({s}", "x://{s}", "{s} x"])
    )
    value = shape.format(s=secret)
    try:
        var.get({var.name: value})
    except BadValue as exc:
        if secret.strip():
            assert secret.strip() not in str(exc)


@settings(max_examples=500, deadline=None)
@given(
    # the prefix keeps a token from being a word of a message's own text ("applications" is)
    token=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=8, max_size=26).map(
        lambda text: "Q7x" + text
    ),
    data=st.data(),
)
def test_parsers_never_quote_the_value(token: str, data: st.DataObject) -> None:
    """Any variable, any kind: a secret-bearing one's message shows none of the value; any other
    shows it once, in front, and never again in the parser's detail (int() and float() would)."""
    var = data.draw(st.sampled_from(DECLARED))
    shape = data.draw(
        st.sampled_from(["{s}", "k={s},{s}", "https://u:{s}@h/{s}", "({s}", "x://{s}", "{s} x", "1{s}"])
    )
    value = shape.format(s=token)
    try:
        var.get({var.name: value})
    except BadValue as exc:
        expected = 0 if var.secret else value.count(token)
        assert str(exc).count(token) == expected, str(exc)


# ---- the environment has one reader --------------------------------------------------------------


def test_only_config_and_the_fast_path_read_the_environment() -> None:
    """`os.environ` is handed whole to the declarations (`config.from_env`, `early_settings`,
    `variables.X.get`), never read variable by variable elsewhere (SIDECAR_LOG_LEVEL was)."""
    offenders = []
    for path in sorted((ROOT / "extension").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("getenv", "environb"):
                offenders.append(f"{path.name}:{node.lineno} os.{node.attr}")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
                inner = node.value
                if inner.attr == "environ" and node.attr != "setdefault":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} os.environ.{node.attr}")
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "environ"
            ):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} os.environ[...]")
    assert not offenders
