"""Loading the agent's configuration: shipped files, overrides, home, and exit-worthy errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, ConfigError, load_config

WALLET = "4kmSTKNmabNWDUFHG9qEnkFuV7dHPMc67x2fC94ZTxpE"
USDT_MINT = "Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB"
USDC_MINT = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"


def edit(path: Path, old: str, new: str) -> None:
    """Replace one exact, unique piece of a config file."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not unique in {path.name}"
    path.write_text(text.replace(old, new))


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + "\n" + text + "\n")


def load(config_dir: Path, tmp_path: Path, environ: dict[str, str] | None = None) -> AgentConfig:
    home = str(tmp_path / "home")
    return load_config(config_dir / "local.toml", home=home, environ=environ or {})


def failure(config_dir: Path, tmp_path: Path, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(config_dir, tmp_path, environ)
    return info.value


# The shipped files


def test_local_config_loads(make_config: Callable[..., AgentConfig], config_dir: Path) -> None:
    """configs/local.toml loads with its tokens and pools, relative to its own folder."""
    config = make_config()
    assert (config.cluster.name, config.execution.mode, config.execution.max_workers) == (
        "local",
        "dry-run",
        16,
    )
    assert (config.venues.jupiter.enabled, config.wallets) == (False, ())
    shipped = load_config(config_dir / "local.toml", environ={})
    assert shipped.prices.sources == ("coingecko", "kraken", "binance", "static")
    assert config.source_dir == str(config_dir)
    assert config.tokens_config is not None and config.pools_config is not None
    assert [t.symbol for t in config.tokens_config.tokens] == ["SOL", "USDC", "USDT", "RAY"]
    assert [p.id for p in config.pools_config.otc] == [
        "otc-sol-usdc",
        "otc-sol-usdt",
        "otc-usdc-usdt",
    ]
    assert [p.id for p in config.pools_config.localdex] == [
        "amm-sol-usdc",
        "amm-sol-usdt",
        "amm-usdc-usdt",
        "amm-ray-usdc",
    ]


def test_devnet_config_loads(config_dir: Path, tmp_path: Path) -> None:
    """configs/devnet.toml loads too, with its RPC URL and its own database and inbox."""
    config = load_config(config_dir / "devnet.toml", home=str(tmp_path), environ={})
    assert (config.cluster.name, config.cluster.url) == ("devnet", "https://api.devnet.solana.com")
    assert (config.intake.directory, config.venues.localdex.enabled) == ("intents-devnet", False)
    assert config.prices.sources == ("coingecko", "kraken", "binance", "static")
    assert config.database_url == f"sqlite:///{tmp_path.resolve()}/otc-agent-devnet.db"
    assert config.tokens_config is not None and len(config.tokens_config.tokens) == 4


def test_jupiter_cannot_send_off_mainnet(config_dir: Path, tmp_path: Path) -> None:
    """Send mode with Jupiter enabled is refused at start unless the cluster is mainnet-beta."""
    environ = {
        "OTC_AGENT__EXECUTION__MODE": "send",
        "OTC_AGENT__VENUES__JUPITER__ENABLED": "true",
    }
    with pytest.raises(ConfigError) as caught:
        load_config(config_dir / "local.toml", home=str(tmp_path), environ=environ)
    assert caught.value.key == "venues.jupiter.enabled"
    assert "only be sent on mainnet-beta, not local" in caught.value.problem


def test_mainnet_dryrun_config_loads(config_dir: Path, tmp_path: Path) -> None:
    """configs/mainnet-dryrun.toml: mainnet, dry-run, the real Jupiter endpoint, simulated on mainnet."""
    config = load_config(config_dir / "mainnet-dryrun.toml", home=str(tmp_path), environ={})
    jupiter = config.venues.jupiter
    assert (config.cluster.name, config.execution.mode) == ("mainnet-beta", "dry-run")
    assert (jupiter.enabled, jupiter.base_url) == (True, "https://api.jup.ag/swap/v1")
    assert jupiter.simulate_rpc == config.cluster.url
    assert (config.venues.otc.enabled, config.venues.localdex.enabled) == (True, False)


def test_config_path_comes_from_otc_agent_config(config_dir: Path) -> None:
    """Without a path, OTC_AGENT_CONFIG names the main file."""
    config = load_config(environ={"OTC_AGENT_CONFIG": str(config_dir / "devnet.toml")})
    assert (config.cluster.name, config.source_dir) == ("devnet", str(config_dir))


def test_files_resolve_against_the_main_file_not_the_cwd(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tokens and pools files are found next to the main file whatever the working folder."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    (config_dir / "sub").mkdir()
    (config_dir / "pools.toml").rename(config_dir / "sub" / "pools.toml")
    config = load(config_dir, tmp_path, {"OTC_AGENT__VENUES__OTC__POOLS_FILE": "sub/pools.toml"})
    assert config.pools_config is not None and len(config.pools_config.otc) == 3
    assert config.resolve("sub/pools.toml") == config_dir / "sub" / "pools.toml"
    assert config.resolve("/abs/tokens.toml") == Path("/abs/tokens.toml")


def test_config_is_frozen(make_config: Callable[..., AgentConfig]) -> None:
    """The loaded configuration cannot be changed, nor can its tables."""
    config = make_config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.execution.mode = "send"  # type: ignore[misc]
    assert config.tokens_config is not None
    with pytest.raises(TypeError):
        config.tokens_config.tokens[0].mints["local"] = USDC_MINT  # type: ignore[index]


def test_wallets_load_from_the_main_file(config_dir: Path, tmp_path: Path) -> None:
    """[[wallets]] entries load with their limits and pairs."""
    append(
        config_dir / "local.toml",
        f'[[wallets]]\npubkey = "{WALLET}"\nmax_notional_usd = 5000\npairs = ["SOL/USDC"]',
    )
    (wallet,) = load(config_dir, tmp_path).wallets
    assert (wallet.pubkey, str(wallet.max_notional_usd), wallet.pairs) == (
        WALLET,
        "5000",
        ("SOL/USDC",),
    )


# Home and database


@pytest.mark.parametrize(
    ("home", "environ", "expected"),
    [
        pytest.param(None, {}, "var", id="file"),
        pytest.param(None, {"OTC_AGENT__HOME": "/srv/a"}, "/srv/a", id="generic override"),
        pytest.param(None, {"OTC_AGENT_HOME": "/srv/b"}, "/srv/b", id="OTC_AGENT_HOME"),
        pytest.param(
            None,
            {"OTC_AGENT_HOME": "/srv/b", "OTC_AGENT__HOME": "/srv/a"},
            "/srv/b",
            id="OTC_AGENT_HOME beats the generic override",
        ),
        pytest.param("/srv/c", {"OTC_AGENT_HOME": "/srv/b"}, "/srv/c", id="home= beats all"),
    ],
)
def test_home_precedence(
    config_dir: Path, home: str | None, environ: dict[str, str], expected: str
) -> None:
    """home= beats OTC_AGENT_HOME, which beats OTC_AGENT__HOME and the file."""
    config = load_config(config_dir / "local.toml", home=home, environ=environ)
    assert config.home == expected
    assert config.intake_root == Path(expected) / "intents"


def test_relative_home_is_relative_to_the_working_folder(
    config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative home resolves against the working folder, and so does {home} in the URL."""
    monkeypatch.chdir(tmp_path)
    config = load_config(config_dir / "local.toml", environ={})
    assert config.database_url == f"sqlite:///{tmp_path.resolve()}/var/otc-agent.db"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, "sqlite:///{home}/otc-agent.db", id="file"),
        pytest.param(
            {"DATABASE_URL": "postgresql+asyncpg://u@db/otc"},
            "postgresql+asyncpg://u@db/otc",
            id="DATABASE_URL",
        ),
        pytest.param(
            {"DATABASE_URL": "sqlite+aiosqlite:///{home}/other.db"},
            "sqlite+aiosqlite:///{home}/other.db",
            id="DATABASE_URL with {home}",
        ),
        pytest.param(
            {"OTC_AGENT__DATABASE__URL": "sqlite+aiosqlite:///{home}/env.db"},
            "sqlite+aiosqlite:///{home}/env.db",
            id="generic override",
        ),
        pytest.param(
            {
                "DATABASE_URL": "postgresql+asyncpg://u@db/otc",
                "OTC_AGENT__DATABASE__URL": "sqlite+aiosqlite:///x.db",
            },
            "postgresql+asyncpg://u@db/otc",
            id="DATABASE_URL beats the generic override",
        ),
        pytest.param({"DATABASE_URL": ""}, "sqlite:///{home}/otc-agent.db", id="empty"),
    ],
)
def test_database_url(
    config_dir: Path, tmp_path: Path, environ: dict[str, str], expected: str
) -> None:
    """DATABASE_URL replaces the configured URL; {home} becomes the absolute home folder."""
    config = load(config_dir, tmp_path, environ)
    home = str((tmp_path / "home").resolve())
    assert config.database.url == expected
    assert config.database_url == expected.replace("{home}", home)


# Environment overrides


@pytest.mark.parametrize(
    ("overrides", "read", "expected"),
    [
        pytest.param(
            {"execution__max_workers": "32"}, lambda c: c.execution.max_workers, 32, id="integer"
        ),
        pytest.param({"execution__mode": "send"}, lambda c: c.execution.mode, "send", id="choice"),
        pytest.param(
            {"venues__jupiter__base_url": "http://127.0.0.1:8080/swap/v1"},
            lambda c: c.venues.jupiter.base_url,
            "http://127.0.0.1:8080/swap/v1",
            id="nested URL",
        ),
        pytest.param(
            {"venues__jupiter__enabled": "true"},
            lambda c: c.venues.jupiter.enabled,
            True,
            id="boolean",
        ),
        pytest.param({"metrics__enabled": "false"}, lambda c: c.metrics.enabled, False, id="false"),
        pytest.param(
            {"intake__rescan_interval_s": "0.25"},
            lambda c: c.intake.rescan_interval_s,
            0.25,
            id="float",
        ),
        pytest.param(
            {"prices__sources": '["static", "kraken"]'},
            lambda c: c.prices.sources,
            ("static", "kraken"),
            id="list",
        ),
        pytest.param(
            {"venues__jupiter__api_key": "123456"},
            lambda c: c.venues.jupiter.api_key,
            "123456",
            id="numeric text stays text",
        ),
        pytest.param(
            {"cluster__mint_seed": "2024-01-01"},
            lambda c: c.cluster.mint_seed,
            "2024-01-01",
            id="date-like text stays text",
        ),
        pytest.param(
            {"cluster__mint_seed": "true"},
            lambda c: c.cluster.mint_seed,
            "true",
            id="boolean-like text stays text",
        ),
        pytest.param(
            {"venues__jupiter__api_key": '"quoted"'},
            lambda c: c.venues.jupiter.api_key,
            "quoted",
            id="TOML string",
        ),
        pytest.param(
            {"wallets": f'[{{pubkey = "{WALLET}", pairs = ["SOL/USDT"]}}]'},
            lambda c: [(w.pubkey, w.pairs) for w in c.wallets],
            [(WALLET, ("SOL/USDT",))],
            id="array of inline tables",
        ),
    ],
)
def test_env_overrides(
    make_config: Callable[..., AgentConfig],
    overrides: dict[str, str],
    read: Callable[[AgentConfig], Any],
    expected: Any,
) -> None:
    """OTC_AGENT__SECTION__KEY sets any key; values are TOML where that fits the key's type."""
    assert read(make_config(**overrides)) == expected


async def test_price_source_endpoints_and_plan_reach_the_oracle(
    make_config: Callable[..., AgentConfig],
) -> None:
    """prices.coingecko_url and coingecko_plan = "pro" make the daemon's oracle ask that host
    with the pro key header."""
    import httpx

    from agent.app.builders import build_oracle, build_tokens

    config = make_config(
        prices__sources='["coingecko", "static"]',
        prices__coingecko_url="http://127.0.0.1:9/coingecko",
        prices__coingecko_plan="pro",
        prices__coingecko_api_key="cg-pro",
    )
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        oracle = build_oracle(config, build_tokens(config), http)
        await oracle.refresh()

    assert seen, "the oracle never asked CoinGecko"
    assert {(r.url.host, r.url.port, r.url.path) for r in seen} == {
        ("127.0.0.1", 9, "/coingecko/simple/price")
    }
    assert {r.headers.get("x-cg-pro-api-key") for r in seen} == {"cg-pro"}


def test_env_overrides_ignore_other_variables(config_dir: Path, tmp_path: Path) -> None:
    """Variables without the OTC_AGENT__ prefix change nothing."""
    plain = load(config_dir, tmp_path)
    noisy = load(config_dir, tmp_path, {"OTC_AGENT_EXECUTION__MODE": "send", "PATH": "/bin"})
    assert noisy == plain


@pytest.mark.parametrize(
    ("environ", "key", "problem"),
    [
        pytest.param(
            {"OTC_AGENT__EXECUTION__MODE": "fast"},
            "execution.mode",
            "must be one of paper, dry-run, send (got 'fast')",
            id="bad choice",
        ),
        pytest.param(
            {"OTC_AGENT__EXECUTION__MAX_WORKERS": "lots"},
            "execution.max_workers",
            "must be an integer (got 'lots')",
            id="not an integer",
        ),
        pytest.param(
            {"OTC_AGENT__EXECUTION__MAX_WORKERS": "0"},
            "execution.max_workers",
            "must be between 1 and 1024 (got 0)",
            id="out of range",
        ),
        pytest.param(
            {"OTC_AGENT__EXECUTION__TURBO": "true"}, "execution.turbo", "unknown key", id="unknown"
        ),
        pytest.param(
            {"OTC_AGENT__SOURCE_DIR": "/tmp"}, "source_dir", "unknown key", id="internal key"
        ),
        pytest.param(
            {"OTC_AGENT__EXECUTION": "5"}, "execution", "must be a table (got int)", id="table"
        ),
        pytest.param(
            {"OTC_AGENT__PRICES__SOURCES": "static"},
            "prices.sources",
            "must be a list (got str)",
            id="list",
        ),
        pytest.param(
            {"OTC_AGENT__PRICES__SOURCES": '["static", "oracle"]'},
            "prices.sources[1]",
            "must be one of",
            id="list item",
        ),
        pytest.param(
            {"OTC_AGENT__INTAKE__RESCAN_INTERVAL_S": "nan"},
            "intake.rescan_interval_s",
            "must be a finite number",
            id="nan",
        ),
        pytest.param(
            {"OTC_AGENT__INTAKE__REDIS__FORGET_CONSUMERS_AFTER_S": "60"},
            "intake.redis.forget_consumers_after_s",
            "must be at least claim_idle_s (300.0), got 60.0",
            id="consumers forgotten before their entries could be taken over",
        ),
        pytest.param(
            {"OTC_AGENT__EXECUTION__MODE__DEEP": "1"},
            "execution.mode.deep",
            "cannot override inside a non-table",
            id="inside a value",
        ),
    ],
)
def test_env_override_errors_name_the_variable_and_key(
    config_dir: Path, tmp_path: Path, environ: dict[str, str], key: str, problem: str
) -> None:
    """A bad override is a ConfigError naming the variable, the key path and the problem."""
    (name,) = environ
    error = failure(config_dir, tmp_path, environ)
    assert (error.source, error.key) == (name, key)
    assert str(error).startswith(f"{name}: {key}: ")
    assert problem in str(error)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("OTC_AGENT__", id="empty"),
        pytest.param("OTC_AGENT__EXECUTION____MODE", id="empty part"),
        pytest.param("OTC_AGENT__EXECUTION__", id="trailing separator"),
    ],
)
def test_malformed_override_names(config_dir: Path, tmp_path: Path, name: str) -> None:
    """Override names with empty parts are refused by name."""
    error = failure(config_dir, tmp_path, {name: "1"})
    assert str(error) == f"{name}: malformed override name"


# Errors in the main file

LOCAL_ERRORS = [
    pytest.param(
        "refresh_interval_s = 270",
        'refresh_interval_s = 270\npyth_url = "hermes.example:443"',
        "prices.pyth_url",
        "must be an http(s) URL (got 'hermes.example:443')",
        id="price source url without scheme",
    ),
    pytest.param(
        "refresh_interval_s = 270",
        'refresh_interval_s = 270\ncoingecko_plan = "enterprise"',
        "prices.coingecko_plan",
        "must be one of demo, pro (got 'enterprise')",
        id="coingecko plan",
    ),
    pytest.param(
        'mode = "dry-run"',
        'mode = "fast"',
        "execution.mode",
        "must be one of paper, dry-run, send (got 'fast')",
        id="mode",
    ),
    pytest.param(
        "max_workers = 16",
        'max_workers = "16"',
        "execution.max_workers",
        "must be an integer (got '16')",
        id="string for integer",
    ),
    pytest.param(
        "max_workers = 16",
        "max_workers = 2000",
        "execution.max_workers",
        "must be between 1 and 1024 (got 2000)",
        id="too many workers",
    ),
    pytest.param(
        "max_workers = 16",
        "max_workers = 16\nturbo = true",
        "execution.turbo",
        "unknown key",
        id="unknown key in a section",
    ),
    pytest.param(
        'home = "var"',
        'home = "var"\nsurprise = 1',
        "surprise",
        "unknown key",
        id="unknown top-level key",
    ),
    pytest.param(
        'name = "local"',
        'name = "testnet"',
        "cluster.name",
        "must be one of local, devnet, mainnet-beta (got 'testnet')",
        id="cluster",
    ),
    pytest.param(
        'name = "local"',
        'name = "devnet"',
        "cluster.url",
        "is required for cluster devnet",
        id="RPC cluster without url",
    ),
    pytest.param(
        "max_ttl_s = 600",
        "max_ttl_s = 0",
        "intake.max_ttl_s",
        "must be greater than 0 (got 0)",
        id="zero ttl",
    ),
    pytest.param(
        "max_file_bytes = 65536",
        "max_file_bytes = -1",
        "intake.max_file_bytes",
        "must be greater than 0 (got -1)",
        id="negative size",
    ),
    pytest.param(
        "max_slippage_bps = 2000",
        "max_slippage_bps = 10001",
        "intake.max_slippage_bps",
        "must be between 0 and 10000 basis points (got 10001)",
        id="slippage above 100%",
    ),
    pytest.param(
        "default_slippage_bps = 50",
        "default_slippage_bps = 3000",
        "intake.default_slippage_bps",
        "must not exceed max_slippage_bps (3000 > 2000)",
        id="default slippage above the maximum",
    ),
    pytest.param(
        "rescan_interval_s = 1.0",
        "rescan_interval_s = nan",
        "intake.rescan_interval_s",
        "must be a finite number (got nan)",
        id="nan interval",
    ),
    pytest.param(
        "rescan_interval_s = 1.0",
        "rescan_interval_s = inf",
        "intake.rescan_interval_s",
        "must be a finite number (got inf)",
        id="infinite interval",
    ),
    pytest.param(
        "rescan_interval_s = 1.0",
        "rescan_interval_s = 0.0",
        "intake.rescan_interval_s",
        "must be greater than 0 (got 0.0)",
        id="zero interval",
    ),
    pytest.param(
        'listen = "127.0.0.1:9108"',
        'listen = "localhost"',
        "metrics.listen",
        "must be HOST:PORT (got 'localhost')",
        id="listen without port",
    ),
    pytest.param(
        'listen = "127.0.0.1:9108"',
        'listen = "127.0.0.1:65536"',
        "metrics.listen",
        "must be HOST:PORT (got '127.0.0.1:65536')",
        id="port too large",
    ),
    pytest.param(
        'sources = ["coingecko", "kraken", "binance", "static"]',
        "sources = []",
        "prices.sources",
        "must name at least one source",
        id="no price source",
    ),
    pytest.param(
        'sources = ["coingecko", "kraken", "binance", "static"]',
        'sources = ["static", "oracle"]',
        "prices.sources[1]",
        "must be one of coingecko, kraken, binance, jupiter, pyth, static (got 'oracle')",
        id="unknown price source",
    ),
    pytest.param(
        "cache_ttl_s = 300",
        "cache_ttl_s = 0",
        "prices.cache_ttl_s",
        "must be greater than 0 (got 0)",
        id="zero cache ttl",
    ),
    pytest.param(
        "[venues.localdex]\nenabled = true",
        '[venues.localdex]\nenabled = "yes"',
        "venues.localdex.enabled",
        "must be true or false (got 'yes')",
        id="boolean",
    ),
    pytest.param(
        "replenish_interval_s = 30",
        'replenish_interval_s = "30s"',
        "venues.otc.replenish_interval_s",
        "must be a number (got '30s')",
        id="number",
    ),
    pytest.param(
        '[tokens]\nfile = "tokens.toml"',
        "[tokens]\nfile = 1",
        "tokens.file",
        "must be a string (got 1)",
        id="string",
    ),
    pytest.param(
        "[venues.jupiter]\n",
        '[venues.jupiter]\napi = "v3"\n',
        "venues.jupiter.api",
        "must be one of v1, v2 (got 'v3')",
        id="jupiter api",
    ),
    pytest.param(
        "[venues.jupiter]\n",
        "[venues.jupiter]\nrps = 0\n",
        "venues.jupiter.rps",
        "must be greater than 0 (got 0.0)",
        id="jupiter rate",
    ),
    pytest.param(
        "[venues.jupiter]\n",
        '[venues.jupiter]\nbase_url = "ftp://x"\n',
        "venues.jupiter.base_url",
        "must be an http(s) URL (got 'ftp://x')",
        id="jupiter url",
    ),
    pytest.param(
        "[venues.jupiter]\n",
        '[venues.jupiter]\nextra_programs = ["nope"]\n',
        "venues.jupiter.extra_programs",
        "is not a base58 public key ('nope')",
        id="jupiter extra program",
    ),
    pytest.param(
        "[venues.jupiter]\n",
        "[venues.jupiter]\nmax_accounts = 4\n",
        "venues.jupiter.max_accounts",
        "must be between 8 and 256",
        id="jupiter max accounts",
    ),
]


@pytest.mark.parametrize(("old", "new", "key", "problem"), LOCAL_ERRORS)
def test_errors_in_the_main_file(
    config_dir: Path, tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    """Each bad value in local.toml is a ConfigError reading "<file>: <key>: <problem>"."""
    edit(config_dir / "local.toml", old, new)
    error = failure(config_dir, tmp_path)
    assert str(error) == f"{config_dir / 'local.toml'}: {key}: {problem}"


WALLET_ERRORS = [
    pytest.param(
        'pubkey = "not-a-key"',
        "wallets[0].pubkey",
        "is not a base58 public key ('not-a-key')",
        id="bad pubkey",
    ),
    pytest.param('keypair = "k.json"', "wallets[0].pubkey", "is required", id="no pubkey"),
    pytest.param(
        f'pubkey = "{WALLET}"\nmax_notional_usd = 0',
        "wallets[0].max_notional_usd",
        "must be greater than 0 (got 0)",
        id="zero notional",
    ),
    pytest.param(
        f'pubkey = "{WALLET}"\ndaily_notional_usd = "-1"',
        "wallets[0].daily_notional_usd",
        "must be greater than 0 (got -1)",
        id="negative daily notional",
    ),
    pytest.param(
        f'pubkey = "{WALLET}"\npairs = ["SOLUSDC"]',
        "wallets[0].pairs",
        "must look like SOL/USDC (got 'SOLUSDC')",
        id="pair without slash",
    ),
    pytest.param(
        f'pubkey = "{WALLET}"\npairs = ["SOL/USDC/USDT"]',
        "wallets[0].pairs",
        "must look like SOL/USDC (got 'SOL/USDC/USDT')",
        id="three tokens",
    ),
    pytest.param(
        f'pubkey = "{WALLET}"\npairs = ["SOL/BONK"]',
        "wallets[0].pairs",
        "unknown token 'BONK'",
        id="pair with unknown token",
    ),
    pytest.param(
        f'pubkey = "{WALLET}"\npairs = ["sol/USDC"]',
        "wallets[0].pairs",
        "unknown token 'sol'",
        id="pair in lower case",
    ),
    pytest.param(
        f'pubkey = "{WALLET}"\n[[wallets]]\npubkey = "x"',
        "wallets[1].pubkey",
        "is not a base58 public key ('x')",
        id="second wallet",
    ),
    pytest.param(
        f'pubkey = "{WALLET}"\ncolour = "red"',
        "wallets[0].colour",
        "unknown key",
        id="unknown wallet key",
    ),
]


@pytest.mark.parametrize(("entry", "key", "problem"), WALLET_ERRORS)
def test_errors_in_wallets(
    config_dir: Path, tmp_path: Path, entry: str, key: str, problem: str
) -> None:
    """Bad [[wallets]] entries, including pairs naming unknown tokens, name the wallet's index."""
    append(config_dir / "local.toml", f"[[wallets]]\n{entry}")
    error = failure(config_dir, tmp_path)
    assert str(error) == f"{config_dir / 'local.toml'}: {key}: {problem}"


# Errors in the tokens and pools files

TOKEN_ERRORS = [
    pytest.param(
        "decimals = 9",
        "decimals = 19",
        "tokens[0].decimals",
        "must be between 0 and 18 (got 19)",
        id="decimals",
    ),
    pytest.param(
        'symbol = "SOL"',
        'symbol = "Sol"',
        "tokens[0].symbol",
        "must be upper-case letters and digits ('Sol')",
        id="symbol case",
    ),
    pytest.param(
        'symbol = "USDT"',
        'symbol = "USDC"',
        "tokens[2].symbol",
        "duplicate symbol USDC",
        id="duplicate symbol",
    ),
    pytest.param(
        f'mainnet-beta = "{USDT_MINT}"',
        f'mainnet-beta = "{USDC_MINT}"',
        "tokens[2].mints.mainnet-beta",
        f"mint {USDC_MINT} is already USDC's",
        id="duplicate mint",
    ),
    pytest.param(
        'devnet = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"',
        'testnet = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"',
        "tokens[1].mints.testnet",
        "unknown cluster",
        id="unknown cluster",
    ),
    pytest.param(
        'devnet = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"',
        'devnet = "USDC"',
        "tokens[1].mints.devnet",
        "is not a base58 public key ('USDC')",
        id="bad mint",
    ),
    pytest.param(
        'static_usd = "2.5"',
        'static_usd = "-2.5"',
        "tokens[3].static_usd",
        "must not be negative",
        id="negative price",
    ),
    pytest.param(
        'static_usd = "2.5"',
        'static_usd = "two"',
        "tokens[3].static_usd",
        "must be a decimal number (got 'two')",
        id="price text",
    ),
    pytest.param(
        'binance_symbol = "RAYUSDT"',
        'binance_symbol = "RAYUSDT"\ncolour = "blue"',
        "tokens[3].colour",
        "unknown key",
        id="unknown key",
    ),
    pytest.param("decimals = 9\n", "", "tokens[0].decimals", "is required", id="missing decimals"),
]


@pytest.mark.parametrize(("old", "new", "key", "problem"), TOKEN_ERRORS)
def test_errors_in_the_tokens_file(
    config_dir: Path, tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    """Errors in tokens.toml name that file and the token's index."""
    edit(config_dir / "tokens.toml", old, new)
    error = failure(config_dir, tmp_path)
    assert str(error) == f"{config_dir / 'tokens.toml'}: {key}: {problem}"


POOL_ERRORS = [
    pytest.param(
        'base = "RAY"',
        'base = "BONK"',
        "localdex[3].base",
        "unknown token 'BONK'",
        id="pool with unknown base",
    ),
    pytest.param(
        'quote = "USDC"\nbase_inventory = "5000"',
        'quote = "DOGE"\nbase_inventory = "5000"',
        "otc[0].quote",
        "unknown token 'DOGE'",
        id="pool with unknown quote",
    ),
    pytest.param(
        'id = "otc-sol-usdt"',
        'id = "otc-sol-usdc"',
        "id",
        "duplicate pool id otc-sol-usdc",
        id="duplicate id",
    ),
    pytest.param(
        'id = "amm-ray-usdc"',
        'id = "otc-usdc-usdt"',
        "id",
        "duplicate pool id otc-usdc-usdt",
        id="id shared across kinds",
    ),
    pytest.param(
        'base_inventory = "5000"',
        'base_inventory = "-0.5"',
        "otc[0].base_inventory",
        "must not be negative (got -0.5)",
        id="negative inventory",
    ),
    pytest.param(
        'quote_inventory = "750000"',
        'quote_inventory = "-2"',
        "otc[0].quote_inventory",
        "must not be negative (got -2)",
        id="negative quote inventory",
    ),
    pytest.param(
        'last_look_reject_probability = "0.02"',
        'last_look_reject_probability = "1.5"',
        "otc[0].last_look_reject_probability",
        "must be between 0 and 1",
        id="probability",
    ),
    pytest.param(
        'min_base = "1"\nmax_base = "2500"',
        'min_base = "3000"\nmax_base = "2500"',
        "otc[0].min_base",
        "must be positive and at most max_base",
        id="size bounds",
    ),
    pytest.param(
        'base_spread_bps = "8"',
        'base_spread_bps = "10001"',
        "otc[0].base_spread_bps",
        "must be between 0 and 10000 basis points (got 10001)",
        id="spread",
    ),
    pytest.param(
        "quote_ttl_s = 10\nexecution_delay_ms = 25",
        "quote_ttl_s = 0\nexecution_delay_ms = 25",
        "otc[0].quote_ttl_s",
        "must be greater than 0 (got 0.0)",
        id="quote ttl",
    ),
    pytest.param(
        "fee_bps = 30",
        "fee_bps = 10000",
        "localdex[3].fee_bps",
        "must be between 0 and 9999 basis points (got 10000)",
        id="fee",
    ),
    pytest.param(
        'base = "RAY"',
        'base = "USDC"',
        "localdex[3].quote",
        "must differ from base",
        id="pool trading a token for itself",
    ),
    pytest.param(
        'base_reserve = "400000"',
        'base_reserve = "0"',
        "localdex[3].base_reserve",
        "must be greater than 0 (got 0)",
        id="empty reserve",
    ),
]


@pytest.mark.parametrize(("old", "new", "key", "problem"), POOL_ERRORS)
def test_errors_in_the_pools_file(
    config_dir: Path, tmp_path: Path, old: str, new: str, key: str, problem: str
) -> None:
    """Errors in pools.toml, including pools naming unknown tokens, name that file and key."""
    edit(config_dir / "pools.toml", old, new)
    error = failure(config_dir, tmp_path)
    assert str(error) == f"{config_dir / 'pools.toml'}: {key}: {problem}"


# Files that cannot be read


def test_missing_main_file(tmp_path: Path) -> None:
    """A main file that does not exist is named in the error."""
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", environ={})
    assert str(info.value) == f"{tmp_path / 'nope.toml'}: file not found"


@pytest.mark.parametrize(
    ("file", "old", "new", "broken", "problem"),
    [
        pytest.param(
            "local.toml",
            'file = "tokens.toml"',
            'file = "gone.toml"',
            "gone.toml",
            "file not found",
            id="missing tokens file",
        ),
        pytest.param(
            "local.toml",
            'pools_file = "pools.toml"',
            'pools_file = "gone.toml"',
            "gone.toml",
            "file not found",
            id="missing pools file",
        ),
        pytest.param(
            "local.toml",
            'pools_file = "pools.toml"',
            'pools_file = "."',
            ".",
            "cannot read",
            id="pools file is a folder",
        ),
        pytest.param(
            "local.toml",
            'home = "var"',
            'home = "var',
            "local.toml",
            "not valid TOML",
            id="main file not TOML",
        ),
        pytest.param(
            "pools.toml",
            'id = "otc-sol-usdc"',
            "id = otc-sol-usdc",
            "pools.toml",
            "not valid TOML",
            id="pools file not TOML",
        ),
        pytest.param(
            "tokens.toml",
            'symbol = "RAY"',
            'symbol = "RAY"\n# caf\udce9',
            "tokens.toml",
            "not UTF-8 text",
            id="tokens file not UTF-8",
        ),
    ],
)
def test_unreadable_files(
    config_dir: Path, tmp_path: Path, file: str, old: str, new: str, broken: str, problem: str
) -> None:
    """Missing, unreadable, non-UTF-8 or non-TOML files are a ConfigError naming the file."""
    path = config_dir / file
    text = path.read_text()
    assert text.count(old) == 1
    path.write_bytes(text.replace(old, new).encode("utf-8", "surrogateescape"))
    error = failure(config_dir, tmp_path)
    assert (error.source, error.key) == (str(config_dir / broken), "")
    assert str(error).startswith(f"{config_dir / broken}: {problem}")


def test_main_file_is_a_folder(config_dir: Path) -> None:
    """Pointing at a folder instead of a file is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(config_dir, environ={})
