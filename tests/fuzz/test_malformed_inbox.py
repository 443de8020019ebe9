"""10,000 malformed intent files through the real daemon process: every one rejected with
its reason, the valid files among them filled, and the daemon alive and answering after."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from solders.keypair import Keypair

from agent.config import AgentConfig
from agent.domain.outcomes import Reason
from agent.intake.folder.layout import IntakeLayout
from agent.intake.folder.names import parse_claim_name
from tests.support.agent_home import AgentHome
from tests.support.malformed import KINDS, Forge, Forged
from tests.support.ports import free_port
from tests.support.processes import spawn_agent

MALFORMED = 10_000
ACCEPTED_FIRST = 20  # filled before the flood; the replay kinds reuse their ids and nonces
VALID_AMONG = 30  # valid files shuffled in with the malformed ones
DEADLINE_S = 150.0


def _drop(inbox: Path, name: str, data: bytes) -> None:
    """Write like a well-behaved writer: a hidden temporary name, then a rename."""
    temp = inbox / f".{name}.tmp"
    temp.write_bytes(data)
    temp.rename(inbox / name)


def _finished(home: AgentHome) -> list[str]:
    """Originals (not reason files) that reached done/ or rejected/."""
    rejected = [n for n in home.files("rejected") if not n.endswith(".reason.json")]
    return home.files("done") + rejected


async def _wait_for(
    condition: Callable[[], bool], process: subprocess.Popen[bytes], log: Path, what: str
) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert process.poll() is None, f"the daemon exited: {_tail(log)}"
        assert time.monotonic() < deadline, f"{what} not reached: {_tail(log)}"
        await asyncio.sleep(0.25)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def _originals(home: AgentHome, folder: str) -> set[str]:
    """The original names of the files in a terminal folder."""
    names = set()
    for name in home.files(folder):
        parsed = parse_claim_name(name)
        if parsed is not None and not name.endswith(".reason.json"):
            names.add(parsed[1])
    return names


def _stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM (the daemon finishes in-flight work and exits 0); SIGKILL if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def _get(port: int, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)


def _counter(port: int, name: str) -> Counter[str]:
    """A counter's samples from /metrics, by their one label value."""
    values: Counter[str] = Counter()
    for family in text_string_to_metric_families(_get(port, "/metrics").text):
        for sample in family.samples:
            if sample.name == name:
                values[next(iter(sample.labels.values()))] += int(sample.value)
    return values


def _logged_events(log: Path) -> Counter[str]:
    events: Counter[str] = Counter()
    for line in log.read_text(errors="replace").splitlines():
        try:
            events[json.loads(line).get("event", "")] += 1
        except (ValueError, AttributeError):
            continue
    return events


@pytest.mark.slow
async def test_ten_thousand_malformed_files_are_rejected_with_reasons_and_the_daemon_lives(
    make_config: Callable[..., AgentConfig], config_dir: Path, tmp_path: Path
) -> None:
    """10,000 malformed files end in rejected/ with reasons, valid ones fill, the daemon lives."""
    config = make_config()
    home = AgentHome(config, Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32))
    await home.register_wallets()
    IntakeLayout(home.root).ensure()
    runtime = home.runtime()
    tokens = runtime.tokens
    await runtime.aclose()
    forge = Forge(
        tokens, config.cluster.name, home.desk, home.treasury, int(time.time()), random.Random(9)
    )
    inbox = home.root / "inbox"
    port = free_port()
    log = tmp_path / "daemon.log"
    metrics_env = {
        "OTC_AGENT__METRICS__ENABLED": "true",
        "OTC_AGENT__METRICS__LISTEN": f"127.0.0.1:{port}",
    }
    with log.open("ab") as log_file:
        process = spawn_agent(
            config_dir, config.home_path, log_file, "run", mode="paper", extra_env=metrics_env
        )
        try:
            await _wait_for(lambda: _ready(port), process, log, "readiness")

            # Accepted first, so that their ids and nonces are consumed before the replays.
            for index in range(ACCEPTED_FIRST):
                _drop(inbox, f"accepted-{index:02d}.json", forge.accept())
            await _wait_for(
                lambda: len(home.files("done")) == ACCEPTED_FIRST, process, log, "first fills"
            )

            expected: dict[str, Forged | None] = {
                f"m{i:05d}.json": forge.forge(i) for i in range(MALFORMED)
            }
            expected |= {f"valid-{i:02d}.json": None for i in range(VALID_AMONG)}
            names = sorted(expected)
            random.Random(3).shuffle(names)
            for name in names:
                forged = expected[name]
                _drop(inbox, name, forge.valid() if forged is None else forged.data)
            total = ACCEPTED_FIRST + MALFORMED + VALID_AMONG
            await _wait_for(lambda: len(_finished(home)) == total, process, log, "every file")

            # Still alive and answering: health, readiness, counters, and one more fill.
            assert process.poll() is None
            assert _get(port, "/healthz").status_code == 200
            readiness = _get(port, "/readyz")
            assert readiness.status_code == 200, readiness.text
            rejections = _counter(port, "otc_agent_rejections_total")
            _drop(inbox, "after.json", forge.valid())
            await _wait_for(
                lambda: "after.json" in _originals(home, "done"), process, log, "one more fill"
            )
        finally:
            exit_code = _stop(process)
    assert exit_code == 0, _tail(log)

    assert home.files("inbox") == []
    assert [n for n in home.files("work") if n != ".owners"] == []
    assert _originals(home, "done") == {
        *(f"accepted-{i:02d}.json" for i in range(ACCEPTED_FIRST)),
        *(f"valid-{i:02d}.json" for i in range(VALID_AMONG)),
        "after.json",
    }
    known = {reason.value for reason in Reason}
    wrong: list[str] = []
    reasons: Counter[str] = Counter()
    for name in home.files("rejected"):
        if name.endswith(".reason.json"):
            continue
        _claim_id, original = parse_claim_name(name)  # type: ignore[misc]
        forged = expected[original]
        assert forged is not None, f"valid file {original} was rejected"
        document = json.loads((home.root / "rejected" / f"{name}.reason.json").read_bytes())
        assert document["status"] == "rejected" and document["reason"] in known, document
        result = json.loads((home.root / document["result"]).read_bytes())
        assert (result["status"], result["reason"]) == (document["status"], document["reason"])
        assert result["detail"], result
        reasons[document["reason"]] += 1
        if document["reason"] != forged.reason.value:
            wrong.append(f"{forged.kind}: {document['reason']} ({result['detail'][:120]})")
    assert not wrong, f"{len(wrong)} files with another reason than expected: {wrong[:20]}"
    assert sum(reasons.values()) == MALFORMED
    assert {kind for kind, _make in KINDS} == {
        forged.kind for forged in expected.values() if forged is not None
    }
    assert rejections == reasons  # the daemon's own counters agree with the folders
    events = _logged_events(log)
    assert events["finished"] == total + 1  # the log is read: one line per submission
    assert events["worker_error"] == events["internal_error"] == events["filing_failed"] == 0


def _ready(port: int) -> bool:
    try:
        return _get(port, "/readyz").status_code == 200
    except httpx.HTTPError:
        return False
