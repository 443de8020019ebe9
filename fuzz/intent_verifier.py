"""Atheris harness: the intent verifier on arbitrary files, and on arbitrary signed text.

Not part of the test suite and atheris is no dependency of the project; run it by hand:

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/intent_verifier.py -runs=100000 var/fuzz/intent fuzz/seeds/intent

Every input is verified twice: as the file a wallet drops into the inbox, and as the text of
a message correctly signed by a fixed key, so that mutations reach the schema behind the
signature. Anything but a verified intent in exact types or an IntentRejected with a short
detail is a crash, which libFuzzer reports with the input that caused it (the first corpus
folder collects new inputs; later ones only seed).
"""

from __future__ import annotations

import json

import atheris
import harness

with atheris.instrument_imports(include=["agent", "onchain"]):
    from agent.domain.intent import FORMAT_V1
    from agent.domain.outcomes import IntentRejected
    from agent.domain.tokens import MAX_AMOUNT
    from agent.pipeline.verification import verify_submission
    from onchain.offchain_message import sign_v1

from solders.keypair import Keypair

KEY = Keypair.from_seed(bytes([7]) * 32)  # the wallet of fuzz/seeds/intent
MAX_DETAIL = 300


def _check(raw: bytes) -> None:
    try:
        intent, text, _signature = verify_submission(raw)
    except IntentRejected as rejection:
        if not 0 < len(rejection.detail) <= MAX_DETAIL:
            raise AssertionError(f"detail of {len(rejection.detail)} characters") from None
        return
    if type(intent.amount) is not int or not 0 <= intent.amount <= MAX_AMOUNT:
        raise AssertionError(f"amount {intent.amount!r}")
    if intent.min_out is not None and type(intent.min_out) is not int:
        raise AssertionError(f"min_out {intent.min_out!r}")
    if json.loads(text)["id"].lower() != intent.id:
        raise AssertionError("the id is not the signed one")


def test_one_input(data: bytes) -> None:
    _check(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if text:
        signature = sign_v1(KEY, data)[1]
        envelope = {"message": text, "signature": str(signature), "format": FORMAT_V1}
        _check(json.dumps(envelope).encode())


def main() -> None:
    harness.fuzz(test_one_input)


if __name__ == "__main__":
    main()
