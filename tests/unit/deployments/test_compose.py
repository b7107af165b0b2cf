"""deployments/docker-compose.pi5-optimized.yml and deployments/.env.example, checked without
a Docker engine: the file parses, every service has its limits, reservations, healthcheck,
restart policy and log rotation; every variable it uses is documented; every PI5_* it hands
the API is a real setting (pi5trading's own loader, which rejects unknown ones); secrets
have no defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pi5trading.config import load_settings
from pi5trading.exceptions import ConfigurationError

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "deployments" / "docker-compose.pi5-optimized.yml"
ENV_EXAMPLE = REPO / "deployments" / ".env.example"
SCRAPE = REPO / "deployments" / "victoriametrics" / "scrape.yml"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}
VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
SECRET = re.compile(r"PASSWORD|SECRET|TOKEN|KEY_ID|_KEY$")
REQUIRED_SECRETS = {"PI5_AUTH__JWT_SECRET", "POSTGRES_PASSWORD", "GOTIFY_ADMIN_PASSWORD"}

MIB = 2**20
GIB = 2**30
# The original Pi profile's budget (seed inventory §10.1/§10.4): memory limit, reservation.
LIMITS = {
    "api": (1 * GIB, 512 * MIB),
    "timescaledb": (int(1.5 * GIB), 512 * MIB),
    "victoriametrics": (300 * MIB, None),
    "redis": (300 * MIB, None),
    "gotify": (100 * MIB, None),
}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def variables() -> list[tuple[str, str, str]]:
    """(name, operator, default or message) of every ${...} in the compose file."""
    text = "\n".join(
        ln for ln in COMPOSE.read_text().splitlines() if not ln.lstrip().startswith("#")
    )
    return [(m[1], m[2] or "", m[3] or "") for m in VAR.finditer(text)]


def documented() -> dict[str, str]:
    """NAME -> example value of every variable in .env.example, set or commented out."""
    out: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if m := re.fullmatch(r"#?\s?([A-Z][A-Z0-9_]*)=(.*)", line.strip()):
            out[m[1]] = m[2]
    return out


def size(value: str | int) -> int:
    """A compose memory size: 1G, 1536M, 300m, 512mb, bytes."""
    if isinstance(value, int):
        return value
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmg]?)b?", value.strip().lower())
    assert m, f"not a memory size: {value!r}"
    return int(float(m[1]) * {"": 1, "k": 2**10, "m": MIB, "g": GIB}[m[2]])


def substitute(value: str, env: dict[str, str]) -> str:
    """Docker compose's interpolation for the forms this file uses."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m[1], m[2] or "", m[3] or ""
        if name in env and (env[name] != "" or ":" not in op):
            return env[name]
        if op.endswith("-"):
            return arg
        if op.endswith("?"):
            raise AssertionError(f"{name} is required: {arg}")
        return ""

    return VAR.sub(one, value)


def test_the_compose_file_parses_with_the_five_services() -> None:
    data = compose()
    assert set(data["services"]) == {"api", "timescaledb", "victoriametrics", "redis", "gotify"}
    assert set(data["volumes"]) == {"pi5data", "pgdata", "vmdata", "gotifydata"}


@pytest.mark.parametrize("service", sorted(LIMITS))
def test_limits_reservations_healthchecks_restart_and_log_rotation(service: str) -> None:
    svc = compose()["services"][service]
    limit, reserved = LIMITS[service]
    resources = svc["deploy"]["resources"]
    assert size(resources["limits"]["memory"]) == pytest.approx(limit, rel=0.01)
    assert float(resources["limits"]["cpus"]) > 0
    reservation = size(resources["reservations"]["memory"])
    assert 0 < reservation < size(resources["limits"]["memory"])
    if reserved is not None:
        assert reservation == reserved
    assert svc["restart"] in {"unless-stopped", "always"}
    check = svc["healthcheck"]
    assert check["test"][0] in {"CMD", "CMD-SHELL"}
    assert len(check["test"]) > 1
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in check, f"{service}: healthcheck without {key}"
    logging = svc["logging"]
    assert logging["driver"] == "json-file"
    assert size(logging["options"]["max-size"]) <= 50 * MIB
    assert int(logging["options"]["max-file"]) >= 2
    # Images are pinned: a tag, never latest.
    if "image" in svc:
        image = substitute(svc["image"], {})
        assert ":" in image, image
        assert not image.endswith(":latest"), image


def test_the_memory_budget_fits_a_pi_5_with_room_to_spare() -> None:
    services = compose()["services"]
    total = sum(size(s["deploy"]["resources"]["limits"]["memory"]) for s in services.values())
    assert total <= 3.5 * GIB  # of 8 GB: the OS, page cache and a backup keep the rest


def test_timescaledb_is_postgresql_15_tuned_for_the_pi() -> None:
    svc = compose()["services"]["timescaledb"]
    assert re.fullmatch(r"timescale/timescaledb:[\d.]+-pg15", svc["image"])
    args = svc["command"]
    settings = dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-c")
    assert settings["shared_preload_libraries"] == "timescaledb"
    assert settings["shared_buffers"] == "256MB"
    assert float(settings["random_page_cost"]) <= 1.5  # NVMe
    assert int(settings["effective_io_concurrency"]) >= 100
    # Above the API's pool, with room for the backtest workers, backups and psql.
    pool = int(
        substitute(compose()["services"]["api"]["environment"]["PI5_DATABASE__POOL_MAX_SIZE"], {})
    )
    assert int(settings["max_connections"]) >= 3 * pool
    assert svc["environment"]["POSTGRES_DB"] == "pi5trading"


def test_redis_is_a_256_mb_lru_cache() -> None:
    cmd = compose()["services"]["redis"]["command"]
    assert cmd[cmd.index("--maxmemory") + 1] == "256mb"
    assert cmd[cmd.index("--maxmemory-policy") + 1] == "allkeys-lru"


def test_victoriametrics_scrapes_the_api_metrics() -> None:
    svc = compose()["services"]["victoriametrics"]
    flags = dict(a.lstrip("-").split("=", 1) for a in svc["command"])
    mounted = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
    config_file = mounted[flags["promscrape.config"]]
    assert (COMPOSE.parent / config_file).resolve() == SCRAPE
    scrape = yaml.safe_load(SCRAPE.read_text())
    [job] = scrape["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["api:8080"]


def test_the_api_is_this_image_waiting_for_a_healthy_database() -> None:
    api = compose()["services"]["api"]
    assert api["build"] == {"context": "..", "dockerfile": "deployments/Dockerfile"}
    assert (COMPOSE.parent / api["build"]["context"] / api["build"]["dockerfile"]).is_file()
    assert api["init"] is True
    assert api["depends_on"]["timescaledb"]["condition"] == "service_healthy"
    assert api["volumes"] == ["pi5data:/var/lib/pi5trading"]
    assert "/health" in " ".join(api["healthcheck"]["test"])
    env = api["environment"]
    assert env["PI5_DATABASE__URL"].startswith("postgresql://")
    assert "@timescaledb:5432/" in env["PI5_DATABASE__URL"]
    assert env["PI5_DATABASE__MIGRATE_ON_START"] == "true"


def test_every_variable_is_documented_in_env_example() -> None:
    used = {name for name, _, _ in variables()}
    missing = used - set(documented())
    assert not missing, f"not in deployments/.env.example: {sorted(missing)}"
    unused = set(documented()) - used
    assert not unused, f"documented but not used by the compose file: {sorted(unused)}"


def test_secrets_have_no_default() -> None:
    for name, op, arg in variables():
        if SECRET.search(name):
            # Required ones fail the start when missing; optional ones default to empty (off).
            assert op.endswith("?") or (op == ":-" and arg == ""), f"${{{name}}} has a default"
    required = {name for name, op, _ in variables() if op.endswith("?")}
    assert required == REQUIRED_SECRETS
    # The example sets no secret either.
    for name, value in documented().items():
        if SECRET.search(name):
            assert value == "", f".env.example gives {name} a value"


def api_environment(env: dict[str, str]) -> dict[str, str]:
    raw = compose()["services"]["api"]["environment"]
    return {k: substitute(str(v), env) for k, v in raw.items()}


SECRETS = {
    "PI5_AUTH__JWT_SECRET": "x" * 40,
    "POSTGRES_PASSWORD": "pg-secret-1",
    "GOTIFY_ADMIN_PASSWORD": "gotify-secret-1",
}


def test_the_api_environment_is_valid_settings_with_the_defaults() -> None:
    env = api_environment(SECRETS)
    assert all(k.startswith("PI5_") for k in env)
    settings = load_settings(env=env, dotenv_path=None)
    assert (
        settings.database.url == "postgresql://pi5trading:pg-secret-1@timescaledb:5432/pi5trading"
    )
    assert settings.database.pool_max_size == 10
    assert settings.redis.url == "redis://redis:6379/0"
    assert settings.logging.format == "json"


def test_the_api_environment_is_valid_settings_with_every_example_value() -> None:
    example = {k: v for k, v in documented().items() if v != ""}
    env = api_environment({**example, **SECRETS})
    load_settings(env=env, dotenv_path=None)
    # Every PI5_* of .env.example is a setting of its own name.
    for name in example:
        if name.startswith("PI5_"):
            assert name in compose()["services"]["api"]["environment"], name


def test_the_settings_loader_would_catch_a_misspelt_variable() -> None:
    env = {**api_environment(SECRETS), "PI5_DATABASE__POOL_MAX_SIZ": "3"}
    with pytest.raises(ConfigurationError, match="unknown setting"):
        load_settings(env=env, dotenv_path=None)


def test_a_missing_secret_stops_the_interpolation() -> None:
    with pytest.raises(AssertionError, match="PI5_AUTH__JWT_SECRET is required"):
        api_environment({"POSTGRES_PASSWORD": "x"})
