"""The end-of-chapter self-check and the chapter's measured running time.

Each chapter ends with a few questions. The student writes answers into
``my_answers`` and :func:`self_check` marks them against ``self_checks/NN.json``. The
file holds a digest of each right answer, not the answer, so reading it gives nothing
away. It also holds a hint for each expected wrong answer, so that a mistake comes back
with the reason it is wrong. The instructor's notebook shows the answers in a
``{solution}`` dropdown, which the student edition drops.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..records import load_result

KEYS = Path(__file__).with_name("self_checks")  # NN.json: chapter NN's key


def normalized(answer) -> str:
    """An answer as the key compares it: ``" B "`` and ``"b"`` are the same answer,
    and so are ``65`` and ``"65"``."""
    return str(answer).strip().lower()


def digest(chapter: str, number: int, answer) -> str:
    """What the key stores for the right ``answer`` to question ``number``."""
    text = f"{chapter}:{number}:{normalized(answer)}"
    return hashlib.sha256(text.encode()).hexdigest()


def load_key(chapter: str) -> dict[int, dict]:
    path = KEYS / f"{chapter}.json"
    if not path.is_file():
        have = sorted(p.stem for p in KEYS.glob("*.json"))
        raise KeyError(f"no self-check for chapter {chapter!r}; there are {have}")
    key = json.loads(path.read_text(encoding="utf8"))
    return {int(n): entry for n, entry in key.items()}


def self_check(chapter: str, answers: dict) -> int:
    """Mark ``answers`` (question number -> answer, None while unanswered) and print
    one line a question: right, not answered yet, or wrong with the reason. Returns
    how many are right."""
    key = load_key(chapter)
    unknown = sorted(set(answers) - set(key))
    if unknown:
        raise ValueError(
            f"chapter {chapter}'s self-check has questions {sorted(key)}; "
            f"there is no question {', '.join(map(str, unknown))}"
        )
    right = 0
    for number, entry in sorted(key.items()):
        answer = answers.get(number)
        if answer is None:
            print(f"{number}: not answered yet")
        elif digest(chapter, number, answer) == entry["digest"]:
            right += 1
            print(f"{number}: right")
        else:
            hint = entry["hints"].get(normalized(answer), entry["hints"]["else"])
            print(f"{number}: not {normalized(answer)!r}. {hint}")
    print(f"{right} of {len(key)} right")
    return right


def notebook_time(notebook: str) -> str:
    """A sentence with how long ``notebook`` (for example ``"06_training"``) took to
    run top to bottom, from ``vit_core/results/notebook_times.json``."""
    record = load_result("notebook_times.json")
    row = next(
        (r for r in (record or {}).get("notebooks", []) if r["notebook"] == notebook),
        None,
    )
    if row is None:
        return f"{notebook}: not timed yet (run `make notebook-times`)."
    machine = record["machine"]
    return (
        f"Running time: {row['seconds']:.0f} s top to bottom on a "
        f"{machine['cpu_count']}-core {machine['processor']} CPU "
        f"(measured {record['measured_at'][:10]}, notebook_times.json)."
    )
