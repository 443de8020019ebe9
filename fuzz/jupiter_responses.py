"""Atheris harness: the Jupiter response parsers and error classifier on arbitrary bodies.

Not part of the test suite and atheris is no dependency of the project; run it by hand:

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/jupiter_responses.py -runs=100000 var/fuzz/jupiter tests/fixtures/jupiter

Every input goes to parse_quote, parse_swap_instructions and parse_build (BadPayload or a
value whose instructions convert to solders) and, as an error body, to classify_response
(a JupiterError, with a finite wait when it names one).
"""

from __future__ import annotations

import math

import atheris
import harness

with atheris.instrument_imports(include=["agent", "onchain"]):
    from agent.net import BadPayload, RateLimited
    from agent.venues.jupiter.errors import JupiterError, classify_response
    from agent.venues.jupiter.models import (
        parse_build,
        parse_quote,
        parse_swap_instructions,
    )


def test_one_input(data: bytes) -> None:
    for parse in (parse_quote, parse_swap_instructions, parse_build):
        try:
            parsed = parse(data)
        except BadPayload:
            continue
        if parse is parse_quote:
            amounts = (parsed.in_amount, parsed.out_amount, parsed.other_amount_threshold)
            if any(type(a) is not int or a < 0 for a in amounts):
                raise AssertionError(f"amounts {amounts!r}")
        else:
            instructions = parsed if parse is parse_swap_instructions else parsed.instructions
            instructions.to_solders()
    header = data[:40].decode("latin-1")
    for status in (200, 400, 429, 503):
        error = classify_response(status, {"retry-after": header}, data, 1.7e9)
        if error is None:
            if not 200 <= status < 300:
                raise AssertionError(f"HTTP {status} classified as a success")
        elif not isinstance(error, JupiterError | RateLimited):
            raise AssertionError(repr(error))
        elif isinstance(error, RateLimited) and error.retry_after_s is not None:
            wait = error.retry_after_s
            if wait < 0 or not math.isfinite(wait):
                raise AssertionError(f"wait {wait!r}")


def main() -> None:
    harness.fuzz(test_one_input)


if __name__ == "__main__":
    main()
