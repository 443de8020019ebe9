"""The ``otc-agent`` command line: :func:`main` parses the arguments and runs the command; each
module holds a group of commands (intents, market, store, demo, quote).

Beside it, what a wallet's automation does, for the demo, the benchmarks and the tests: an
:class:`IntentDraft` signed (:func:`sign_intent`, :func:`new_nonce`) and dropped in an inbox
(:func:`write_intent`) or spoilt (:func:`tamper_signature`); :class:`IntentMix` is the demo's mix.
"""

from agent.cli.demo import IntentMix
from agent.cli.intent_builder import (
    IntentDraft,
    new_nonce,
    sign_intent,
    tamper_signature,
    write_intent,
)
from agent.cli.main import main

__all__ = [
    "IntentDraft",
    "IntentMix",
    "main",
    "new_nonce",
    "sign_intent",
    "tamper_signature",
    "write_intent",
]
