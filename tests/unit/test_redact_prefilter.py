"""redact() answers exactly as one regex search per line would, with its set prefilter."""

from __future__ import annotations

import random
import re

from grader.sandbox.redact import MIN_LINE, REDACTED, redact

PROTECTED = (
    "dA_prev, dW, db = linear_activation_backward(dA, cache)",
    "expected = reference.L_model_backward(AL, Y, caches)",
    "assert_close(got, expected, name='grads')",
)


def by_regex(text: str, lines: tuple[str, ...]) -> str:
    pattern = re.compile("|".join(re.escape(line) for line in lines))
    kept = [REDACTED if pattern.search(line) else line for line in text.splitlines()]
    return "\n".join(kept) + ("\n" if text.endswith("\n") else "")


def test_a_protected_line_anywhere_in_a_line_is_removed_and_nothing_else() -> None:
    text = "\n".join(
        [
            "ok",
            f"    {PROTECTED[0]}",
            f"prefix {PROTECTED[1]} suffix",
            PROTECTED[2][:-1],  # one character short: not the protected line
            "x" * (MIN_LINE - 1),
            "",
        ]
    )
    assert redact(text, PROTECTED).splitlines() == [
        "ok", REDACTED, REDACTED, PROTECTED[2][:-1], "x" * (MIN_LINE - 1)
    ]  # fmt: skip


def test_same_answer_as_the_plain_regex_on_random_text() -> None:
    rng = random.Random(7)  # noqa: S311 -- reproducible test text, not a secret
    alphabet = "abdeilmnprt_(), =.'AYLW"
    for lines in (PROTECTED, (*PROTECTED, "short")):  # a short line turns the prefilter off
        for _ in range(300):
            parts = []
            for _ in range(rng.randint(1, 4)):
                noise = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
                if rng.random() < 0.4:
                    cut = rng.choice(lines)
                    start = rng.randint(0, 3)
                    noise += cut[start : len(cut) - rng.randint(0, 2)]
                parts.append(noise)
            text = "\n".join(parts)
            assert redact(text, lines) == by_regex(text, lines), text
