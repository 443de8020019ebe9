"""Two replicas that run the same submission (a stream entry taken over from a consumer that
was only slow) record it once: the second gets the first one's outcome and writes nothing."""

from __future__ import annotations

from collections.abc import Callable

from solders.keypair import Keypair

from agent.config import AgentConfig
from agent.domain.outcomes import Status
from agent.ledger.plans import Submission
from agent.store.models import IntentRow, OtcPoolRow, SubmissionRow, TradeRow
from tests.support.agent_home import AgentHome


async def test_second_replica_gets_the_recorded_outcome_and_writes_nothing(
    make_config: Callable[..., AgentConfig], database_url: str
) -> None:
    """The same (source, ref) filled by replica A and then run by replica B: one intent, one
    set of trades, books moved once, and B answers with A's result document."""
    config = make_config(database_url, execution__honour_execution_delay="false")
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets()
    mix = home.mix(seed=4)
    envelopes = []
    while len(envelopes) < 5:
        kind, _stem, envelope = mix.next(0.0)
        if kind == "valid":
            envelopes.append(envelope)
    first, second = home.runtime(seed=1), home.runtime(seed=2)
    await first.start()
    await second.start()
    try:
        outcomes = []
        for number, envelope in enumerate(envelopes):
            submission = Submission("redis", f"1700000000000-{number}", "", envelope, 0.0)
            a = await first.pipeline.process(submission)
            books_after_a = await home.rows(OtcPoolRow.__table__)
            b = await second.pipeline.process(submission)
            assert await home.rows(OtcPoolRow.__table__) == books_after_a
            outcomes.append((a, b))
    finally:
        await first.aclose()
        await second.aclose()
    for a, b in outcomes:
        assert (b.status, b.reason, b.intent_id, b.result) == (
            a.status,
            a.reason,
            a.intent_id,
            a.result,
        )
    assert sum(a.status is Status.FILLED for a, _ in outcomes) > 0
    assert len(await home.rows(SubmissionRow.__table__)) == len(envelopes)
    assert len(await home.rows(IntentRow.__table__)) == len(envelopes)
    trades = await home.rows(TradeRow.__table__)
    assert len({t.intent_id for t in trades}) == sum(a.status is Status.FILLED for a, _ in outcomes)
