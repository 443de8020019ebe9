"""The multi-source price oracle: per-token failover, a TTL cache, and per-source health.

:meth:`FailoverOracle.refresh` (called periodically by the daemon's scheduler) asks the
network sources in the configured order, each only for the tokens still lacking an answer,
and caches the first answer per token. With ``cross_check`` on, one more source is asked for
each token, so a disagreement between two sources is flagged (never averaged away). Tokens
no network source priced fall back to a recent live price, then to ``Token.static_usd``.

:meth:`FailoverOracle.price` answers from the cache. On a miss it waits at most
``price_timeout_s`` for one refresh, then answers with what it has: a stale live price
(flagged), the static price (source "static"), or :class:`PriceUnavailable`.

A source's failures go to its health record (:mod:`agent.pricing.health`): backoff, circuit
breaker and disabled pause. :meth:`FailoverOracle.snapshot` exposes all of it for metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import structlog

from agent.domain.prices import PriceUnavailable
from agent.domain.tokens import Token
from agent.pricing.errors import PriceSourceError, SourceUnavailable
from agent.pricing.health import BreakerSettings, SourceBackoff, SourceHealth
from agent.pricing.parsers import Observation, convert_usdt
from agent.pricing.snapshot import (
    CachedPrice,
    Disagreement,
    OraclePrice,
    OracleSnapshot,
    SourceState,
    TokenState,
)
from agent.pricing.sources import PriceSource, StaticSource

__all__ = ["MAX_CLOCK_AHEAD_S", "FailoverOracle", "FailoverSettings"]

log = structlog.get_logger("agent.pricing")

# How far a source's own timestamp may run ahead of this host's clock (skew between honest
# clocks); an observation dated further ahead is refused, counted as ``future``.
MAX_CLOCK_AHEAD_S = 60.0


@dataclass(frozen=True, slots=True)
class FailoverSettings:
    """How the oracle caches, waits and judges answers."""

    cache_ttl_s: float = 300.0  # CoinGecko's demo quota allows one batched call per ~5 minutes
    # After the TTL a live price is served flagged stale for this long, then static takes over.
    max_stale_s: float = 3600.0
    # A source's own timestamp older than this makes its observation unusable (failover).
    max_observation_age_s: float = 900.0
    price_timeout_s: float = 2.0  # the longest price() waits on a refresh
    fetch_timeout_s: float = 10.0  # per source per refresh, on top of httpx's own timeouts
    refresh_cooldown_s: float = 30.0  # cache misses trigger at most one refresh per this
    cross_check: bool = True  # ask a second source per token to detect disagreement
    disagreement_tolerance: Decimal = Decimal("0.02")  # relative to the served price
    usdt_symbol: str = "USDT"  # whose USD price converts USDT-quoted (Binance) observations

    def __post_init__(self) -> None:
        for name in ("cache_ttl_s", "price_timeout_s", "fetch_timeout_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("max_stale_s", "max_observation_age_s", "refresh_cooldown_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.disagreement_tolerance <= 0:
            raise ValueError("disagreement_tolerance must be positive")


class FailoverOracle:
    """A :class:`~agent.domain.prices.PriceOracle` over several sources with failover.

    ``sources`` is the configured order (see :func:`agent.pricing.sources.build_sources`).
    The static source is the last resort wherever it is listed, and is added when missing.
    """

    def __init__(
        self,
        sources: Sequence[PriceSource],
        tokens: Iterable[Token] = (),
        *,
        settings: FailoverSettings | None = None,
        retry: SourceBackoff | None = None,
        breaker: BreakerSettings | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings or FailoverSettings()
        self._retry = retry or SourceBackoff()
        breakers = breaker or BreakerSettings()
        self._clock = clock
        self._rng = rng or random.Random()
        self._network = [s for s in sources if s.name != "static"]
        names = [s.name for s in self._network]
        if len(set(names)) != len(names):
            raise ValueError(f"a price source is listed twice: {names}")
        self._static: PriceSource = next((s for s in sources if s.name == "static"), StaticSource())
        self._health = {s.name: SourceHealth(breakers.breaker(clock)) for s in self._network}
        self._tokens: dict[str, Token] = {t.symbol: t for t in tokens}
        self._cache: dict[str, CachedPrice] = {}
        self._refresh_task: asyncio.Task[None] | None = None
        self._last_refresh_started: float | None = None
        self.last_refresh_at: float | None = None
        self.cache_hits = 0
        self.cache_misses = 0
        self.refreshes = 0

    @property
    def source_names(self) -> tuple[str, ...]:
        """The network sources in failover order, then "static"."""
        return (*(s.name for s in self._network), "static")

    @property
    def disagreements(self) -> dict[str, Disagreement]:
        """Current disagreements by symbol, from the latest answers."""
        return {s: e.disagreement for s, e in self._cache.items() if e.disagreement is not None}

    # --- the PriceOracle protocol ---------------------------------------------------------

    async def price(self, token: Token) -> OraclePrice:
        """The token's USD price, waiting at most ``price_timeout_s`` on the network.

        :raises PriceUnavailable: when no source has a price, not even the static one.
        """
        self._tokens.setdefault(token.symbol, token)
        entry = self._cache.get(token.symbol)
        if entry is not None and self._fresh(entry, self._clock()):
            self.cache_hits += 1
            return self._point(entry, self._clock())
        self.cache_misses += 1
        if self._may_refresh(self._clock()):
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.price_timeout_s):
                    await self.refresh()
        now = self._clock()
        entry = self._cache.get(token.symbol)
        if entry is not None and (self._fresh(entry, now) or self._usable_stale(entry, now)):
            return self._point(entry, now)
        static = (await self._static.fetch([token])).get(token.symbol)
        if static is None:
            raise PriceUnavailable(token.symbol)
        return OraclePrice(token.symbol, static.usd, "static", now, fetched_at=now)

    # --- refreshing -----------------------------------------------------------------------

    async def refresh(self) -> None:
        """Fetch every known token from the sources in order; joins a refresh in progress.

        Never raises for a source's failure: those go to the source's health record.
        """
        task = self._refresh_task
        if task is None or task.done():
            task = asyncio.create_task(self._refresh(), name="price-refresh")
            self._refresh_task = task
        # Shielded: a price() that stops waiting must not cancel the refresh for everyone.
        await asyncio.shield(task)

    async def aclose(self) -> None:
        """Cancel a refresh in flight (at shutdown); the HTTP client belongs to the caller."""
        task, self._refresh_task = self._refresh_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _may_refresh(self, now: float) -> bool:
        if self._refresh_task is not None and not self._refresh_task.done():
            return True  # joining the running refresh costs no extra requests
        last = self._last_refresh_started
        return last is None or now - last >= self.settings.refresh_cooldown_s

    async def _refresh(self) -> None:
        self._last_refresh_started = self._clock()
        tokens = list(self._tokens.values())
        needed = 2 if self.settings.cross_check else 1
        answers: dict[str, list[tuple[str, Observation]]] = {t.symbol: [] for t in tokens}
        for source in self._network:
            wanted = [t for t in tokens if len(answers[t.symbol]) < needed and source.supports(t)]
            if wanted:
                for symbol, observation in (await self._ask(source, wanted)).items():
                    answers[symbol].append((source.name, observation))
        now = self._clock()
        usdt_usd = self._usdt_usd(answers, now)
        for token in tokens:
            found = [
                (name, convert_usdt(obs, usdt_usd) if usdt_usd is not None else obs)
                for name, obs in answers[token.symbol]
            ]
            await self._store(token, found, now)
        self.refreshes += 1
        self.last_refresh_at = now

    async def _ask(self, source: PriceSource, wanted: Sequence[Token]) -> dict[str, Observation]:
        """One source's usable observations; failures go to its health record."""
        health = self._health[source.name]
        now = self._clock()
        if not health.ready(now):
            return {}
        try:
            async with asyncio.timeout(self.settings.fetch_timeout_s):
                observations = await source.fetch(wanted)
        except PriceSourceError as exc:
            self._failed(source.name, exc)
            return {}
        except TimeoutError:
            timeout = self.settings.fetch_timeout_s
            self._failed(source.name, SourceUnavailable(source.name, f"no answer in {timeout}s"))
            return {}
        except Exception as exc:  # a source bug must not stop the other sources or the daemon
            log.exception("price_source_crashed", source=source.name)
            self._failed(source.name, PriceSourceError(source.name, type(exc).__name__))
            return {}
        now = self._clock()
        if health.consecutive or health.disabled:
            log.info("price_source_recovered", source=source.name)
        health.succeeded(now)
        usable: dict[str, Observation] = {}
        for token in wanted:
            observation = observations.get(token.symbol)
            if observation is None:
                health.failures["missing"] += 1
                continue
            # The source's own clock; None when it gives no timestamp (nothing to check).
            age = None if observation.observed_at is None else now - observation.observed_at
            if age is not None and -age > MAX_CLOCK_AHEAD_S:
                # A timestamp from the future would pass every age check for as long as it
                # stays ahead: a frozen feed must not look fresh by dating itself forward.
                health.failures["future"] += 1
                log.warning(
                    "price_observation_from_the_future",
                    source=source.name,
                    symbol=token.symbol,
                    ahead_s=round(-age),
                )
            elif age is not None and age > self.settings.max_observation_age_s:
                health.failures["stale"] += 1
                log.warning(
                    "price_observation_stale",
                    source=source.name,
                    symbol=token.symbol,
                    age_s=round(age),
                )
            else:
                usable[token.symbol] = observation
        return usable

    def _failed(self, name: str, error: PriceSourceError) -> None:
        wait = self._health[name].failed(error, self._clock(), self._retry, self._rng)
        log.warning(
            "price_source_failed",
            source=name,
            reason=error.reason,
            error=str(error),
            retry_in_s=round(wait, 1),
            status=self._health[name].status(self._clock()),
        )

    def _usdt_usd(
        self, answers: Mapping[str, list[tuple[str, Observation]]], now: float
    ) -> Decimal | None:
        """USDT's live USD price: from this refresh, else from a fresh cached live entry."""
        symbol = self.settings.usdt_symbol
        for _, observation in answers.get(symbol, []):
            if observation.quote == "USD":
                return observation.usd
        entry = self._cache.get(symbol)
        if (
            entry is not None
            and entry.source != "static"
            and entry.quote == "USD"
            and self._fresh(entry, now)
        ):
            return entry.usd
        return None

    async def _store(self, token: Token, found: list[tuple[str, Observation]], now: float) -> None:
        if found:
            (source, primary), others = found[0], found[1:]
            self._cache[token.symbol] = CachedPrice(
                symbol=token.symbol,
                usd=primary.usd,
                source=source,
                fetched_at=now,
                observed_at=primary.observed_at,
                change_24h=primary.change_24h,
                quote=primary.quote,
                disagreement=self._disagreement(token.symbol, source, primary, others, now),
            )
            return
        existing = self._cache.get(token.symbol)
        if existing is not None and self._usable_stale(existing, now):
            return  # a recent live price beats the configured static one
        static = (await self._static.fetch([token])).get(token.symbol)
        if static is None:
            self._cache.pop(token.symbol, None)
            return
        self._cache[token.symbol] = CachedPrice(token.symbol, static.usd, "static", now)

    def _disagreement(
        self,
        symbol: str,
        source: str,
        primary: Observation,
        others: Sequence[tuple[str, Observation]],
        now: float,
    ) -> Disagreement | None:
        for other_source, other in others:
            spread = abs(other.usd - primary.usd) / primary.usd
            if spread > self.settings.disagreement_tolerance:
                log.warning(
                    "price_sources_disagree",
                    symbol=symbol,
                    primary=source,
                    primary_usd=str(primary.usd),
                    other=other_source,
                    other_usd=str(other.usd),
                    spread=str(spread),
                )
                return Disagreement(
                    symbol, source, primary.usd, other_source, other.usd, spread, now
                )
        return None

    # --- answering ------------------------------------------------------------------------

    def _fresh(self, entry: CachedPrice, now: float) -> bool:
        return now - entry.fetched_at <= self.settings.cache_ttl_s

    def _usable_stale(self, entry: CachedPrice, now: float) -> bool:
        limit = max(self.settings.max_stale_s, self.settings.cache_ttl_s)
        return entry.source != "static" and now - entry.fetched_at <= limit

    def _point(self, entry: CachedPrice, now: float) -> OraclePrice:
        return OraclePrice(
            symbol=entry.symbol,
            usd=entry.usd,
            source=entry.source,
            observed_at=entry.observed_at if entry.observed_at is not None else entry.fetched_at,
            fetched_at=entry.fetched_at,
            stale=not self._fresh(entry, now),
            quote=entry.quote,
            change_24h=entry.change_24h,
            disagreement=entry.disagreement,
        )

    # --- state for metrics ----------------------------------------------------------------

    def snapshot(self) -> OracleSnapshot:
        """Per token the active source and age; per source health and failure counts."""
        now = self._clock()
        tokens: dict[str, TokenState] = {}
        for symbol in self._tokens:
            entry = self._cache.get(symbol)
            if entry is None:
                tokens[symbol] = TokenState(symbol, None, None, None, True, None, None)
                continue
            tokens[symbol] = TokenState(
                symbol,
                entry.source,
                entry.usd,
                now - entry.fetched_at,
                not self._fresh(entry, now),
                entry.quote,
                entry.disagreement,
            )
        sources: dict[str, SourceState] = {}
        for source in self._network:
            health = self._health[source.name]
            sources[source.name] = SourceState(
                name=source.name,
                status=health.status(now),
                consecutive_failures=health.consecutive,
                failures=dict(health.failures),
                retry_in_s=health.next_attempt - now if not health.ready(now) else None,
                last_success_at=health.last_success_at,
                last_error=health.last_error,
                unknown_instruments=tuple(sorted(getattr(source, "unknown", ()))),
            )
        return OracleSnapshot(
            tokens, sources, self.cache_hits, self.cache_misses, self.refreshes,
            self.last_refresh_at,
        )  # fmt: skip
