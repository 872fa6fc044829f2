"""Generate the committed sample datasets, deterministically (run: python data/samples/make_samples.py).

- math_tutor.jsonl: 1,200 step-by-step arithmetic explanations (+, -, x) with varied
  wordings and a few system prompts: a style/format task that fine-tuning suits.
- math_tutor.csv: the first 150 of them as system/user/assistant columns (for `ftw convert`).
- support_routing.jsonl: 600 customer messages routed to a category and a priority as one
  line of JSON: a classification task where a small model gains accuracy, not only format.
- facts.jsonl: 150 questions and answers about 50 made-up islands (capital, year founded,
  main export): a knowledge task the fact-versus-style check must flag ("use retrieval
  instead"); facts_documents.jsonl holds the same facts as one short document per island,
  and facts_questions.jsonl asks every fact again in other words, plus 10 questions about
  islands in no document (notebook 07).
- broken.jsonl: one line per error code, so every check can be seen failing.
- own_orders.jsonl: 300 coffee orders written as customers write them, each extracted into one JSON object (name,
  drink, size, quantity, milk, pickup time): a learner's own extraction task, as step 1's upload would bring it
  (`scripts/run_workbook.py --data`), measured by the graders proposed from it.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 20261125

SYSTEM_PROMPTS = [
    "You are a math tutor. Explain step-by-step.",
    "You are a math tutor. Explain step-by-step.",
    "You are a math tutor. Explain step-by-step.",
    "You are a patient math tutor for middle-school students. Explain step-by-step.",
    "You are a math tutor. Show every step and finish with the answer.",
]

WORDINGS = [
    "Solve {a} {op} {b} and explain.",
    "What is {a} {op} {b}? Show your steps.",
    "Can you help me work out {a} {op} {b}?",
    "Explain how to compute {a} {op} {b}.",
    "I need to find {a} {op} {b}. Walk me through it.",
    "Calculate {a} {op} {b} step by step.",
    "How do I do {a} {op} {b}?",
    "My homework asks for {a} {op} {b}. How do I get the answer?",
    "Work out {a} {op} {b}, please.",
    "Please explain {a} {op} {b} to me.",
    "{a} {op} {b} = ? I'm stuck.",
    "Could you show the working for {a} {op} {b}?",
]
VERB_WORDINGS = {
    "+": ["Show me how to add {a} and {b}.", "What do I get if I add {a} to {b}?"],
    "-": ["Show me how to subtract {b} from {a}.", "What is left if I take {b} away from {a}?"],
    "*": ["Show me how to multiply {a} by {b}.", "What do I get if I multiply {a} by {b}?"],
}
OP_SHOWN = {"+": ["+"], "-": ["-", "−"], "*": ["×", "*", "x", "times"]}
PLACES = ["Ones", "Tens", "Hundreds", "Thousands", "Ten-thousands"]


def digits(n: int) -> list[int]:
    return [int(c) for c in reversed(str(n))]


def explain_add(a: int, b: int) -> str:
    da, db = digits(a), digits(b)
    carry, cols = 0, []
    width = max(len(da), len(db))
    for i in range(width):
        x = da[i] if i < len(da) else 0
        y = db[i] if i < len(db) else 0
        s = x + y + carry
        expr = f"{x}+{y}" + (f"+{carry}" if carry else "") + f"={s}"
        last = i == width - 1
        if last:
            note = f"(write {s})"
        elif s >= 10:
            note = f"(write {s % 10}, carry 1)"
        else:
            note = f"(write {s})"
        cols.append(f"{PLACES[i]}: {expr} {note}")
        carry = s // 10
    return (
        "Step 1: Align the numbers by place value.\n"
        f"Step 2: Add each column from right to left - {'; '.join(cols)}.\n"
        f"Answer: {a + b}"
    )


def explain_sub(a: int, b: int) -> str:
    negative = a < b
    big, small = (b, a) if negative else (a, b)
    da, db = digits(big), digits(small)
    borrow, cols = 0, []
    for i in range(len(da)):
        x = da[i] - borrow
        y = db[i] if i < len(db) else 0
        if x < y:
            cols.append(f"{PLACES[i]}: {x + 10}-{y}={x + 10 - y} (borrow 1 from the {PLACES[i + 1].lower()})")
            borrow = 1
        else:
            if i == len(da) - 1 and x - y == 0 and i > 0:
                cols.append(f"{PLACES[i]}: {x}-{y}=0")
            else:
                cols.append(f"{PLACES[i]}: {x}-{y}={x - y}")
            borrow = 0
    steps = ["Step 1: Align the numbers by place value."]
    if negative:
        steps.append(f"Step 2: {a} is smaller than {b}, so compute {b} - {a} and make the result negative.")
        steps.append(f"Step 3: Subtract each column from right to left - {'; '.join(cols)}.")
    else:
        steps.append(f"Step 2: Subtract each column from right to left - {'; '.join(cols)}.")
    steps.append(f"Answer: {a - b}")
    return "\n".join(steps)


def explain_mul(a: int, b: int) -> str:
    parts = []
    for i, d in enumerate(digits(b)):
        if d:
            parts.append(d * 10**i)
    parts.reverse()
    products = [a * p for p in parts]
    if len(parts) > 1:
        first = f"Step 1: Split {b} into {' + '.join(map(str, parts))}."
    elif b < 10:
        first = f"Step 1: Multiply {a} by the single digit {b}."
    else:
        first = f"Step 1: {b} has one non-zero digit, so multiply in one step."
    lines = [first]
    lines.append("Step 2: Multiply each part - " + "; ".join(f"{a}×{p}={q}" for p, q in zip(parts, products)) + ".")
    if len(parts) > 1:
        lines.append("Step 3: Add the partial products - " + "+".join(map(str, products)) + f"={a * b}.")
    lines.append(f"Answer: {a * b}")
    return "\n".join(lines)


EXPLAIN = {"+": explain_add, "-": explain_sub, "*": explain_mul}


def math_example(rng: random.Random, op: str, a: int, b: int) -> dict:
    if rng.random() < 0.15:
        user = rng.choice(VERB_WORDINGS[op]).format(a=a, b=b)
    else:
        user = rng.choice(WORDINGS).format(a=a, op=rng.choice(OP_SHOWN[op]), b=b)
    return {
        "messages": [
            {"role": "system", "content": rng.choice(SYSTEM_PROMPTS)},
            {"role": "user", "content": user},
            {"role": "assistant", "content": EXPLAIN[op](a, b)},
        ]
    }


def math_tutor(n: int = 1200) -> list[dict]:
    rng = random.Random(SEED)
    seen: set[tuple[str, int, int]] = set()
    out = []
    while len(out) < n:
        op = rng.choice("+++--*")
        if op == "*":
            a, b = rng.randint(12, 999), rng.randint(2, 99)
        else:
            a = rng.randint(10, 10 ** rng.randint(2, 4) - 1)
            b = rng.randint(10, 10 ** rng.randint(2, 4) - 1)
            if op == "-" and rng.random() < 0.85 and a < b:
                a, b = b, a
        if (op, a, b) in seen:
            continue
        seen.add((op, a, b))
        out.append(math_example(rng, op, a, b))
    return out


# Support routing: a classification task where a small model gains substance, not only format. Each message
# names its problem in one of many wordings (the category) and carries a cue for its urgency (the priority);
# the answer is one line of JSON.
ROUTING_SYSTEM = (
    'Route the customer message. Reply with JSON only: {"category": "billing" | "technical" | '
    '"account" | "shipping" | "returns", "priority": "low" | "normal" | "urgent"}'
)
PRODUCTS = [
    "router",
    "headset",
    "smart plug",
    "webcam",
    "keyboard",
    "monitor",
    "printer",
    "speaker",
    "tablet",
    "charger",
]
PROBLEMS = {
    "billing": [
        "I was charged twice for my {product} order {order}.",
        "My invoice {order} shows {amount} but I paid less.",
        "Why did my card get billed {amount} this month?",
        "The refund of {amount} for order {order} never reached my bank.",
        "Can you explain the extra fee on invoice {order}?",
        "My subscription price went up to {amount} without notice.",
    ],
    "technical": [
        "My {product} keeps disconnecting from wifi.",
        "The {product} will not turn on after the update.",
        "The app crashes every time I open the {product} settings.",
        "My {product} shows error code E{code}.",
        "The firmware update for my {product} failed halfway.",
        "Sound from the {product} cuts out every few seconds.",
    ],
    "account": [
        "I cannot log in to my account, the password reset email never arrives.",
        "Please change the email address on my account.",
        "My account was locked after too many login attempts.",
        "How do I delete my account and my data?",
        "Someone else seems to be using my account.",
        "I want to add a second user to my account.",
    ],
    "shipping": [
        "Order {order} still has not arrived.",
        "The tracking for order {order} has not moved in a week.",
        "My {product} was delivered to the wrong address.",
        "Can I change the delivery address for order {order}?",
        "The parcel with my {product} arrived damaged.",
        "Order {order} says delivered but nothing is here.",
    ],
    "returns": [
        "I want to return the {product} from order {order}.",
        "How do I send back a {product} that I do not need?",
        "The {product} is not what I ordered, I want to exchange it.",
        "Can I still return order {order} after 20 days?",
        "Please send me a return label for my {product}.",
        "My return of the {product} was received but not processed.",
    ],
}
URGENCY = {
    "urgent": [
        "This is urgent, I need it fixed today.",
        "My business is down because of this!",
        "Please help ASAP.",
        "I have a presentation in an hour.",
        "This is the third time I am writing, it is an emergency.",
    ],
    "normal": ["Thanks.", "Could you look into it?", "Please advise.", "What should I do?", "Kind regards."],
    "low": [
        "No rush, whenever you have time.",
        "Just curious, it is not important.",
        "It can wait until next week.",
        "Low priority, just letting you know.",
        "Only a small question, no hurry.",
    ],
}


def support_routing(n: int = 600) -> list[dict]:
    rng = random.Random(SEED + 3)
    out, seen = [], set()
    while len(out) < n:
        category, priority = rng.choice(list(PROBLEMS)), rng.choice(["urgent", "normal", "normal", "low"])
        text = rng.choice(PROBLEMS[category]).format(
            product=rng.choice(PRODUCTS),
            order=f"#{rng.randint(10000, 99999)}",
            amount=f"${rng.randint(5, 400)}.{rng.randint(0, 99):02d}",
            code=rng.randint(100, 999),
        )
        cue = rng.choice(URGENCY[priority])
        user = f"{cue} {text}" if rng.random() < 0.3 else f"{text} {cue}"
        if user in seen:
            continue
        seen.add(user)
        answer = json.dumps({"category": category, "priority": priority})
        out.append(
            {
                "messages": [
                    {"role": "system", "content": ROUTING_SYSTEM},
                    {"role": "user", "content": user},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    return out


# The facts sample is about islands that do not exist, so no model can know them beforehand: whatever a model
# answers right, it learned from the training data or read in the documents (notebook 07 compares the two).
SYLLABLES = [
    "vel",
    "mor",
    "tas",
    "quin",
    "ora",
    "the",
    "kel",
    "dra",
    "sun",
    "lio",
    "bre",
    "nax",
    "pel",
    "ith",
    "cor",
    "van",
    "zel",
    "ami",
    "rho",
    "dun",
    "sar",
    "eko",
    "lum",
    "tor",
    "vie",
    "gal",
    "osk",
    "ren",
    "ual",
    "fey",
]
SEAS = ["Kestrel Sea", "Amber Gulf", "Northern Shallows", "Gannet Strait", "Lantern Bay"]
EXPORTS = [
    "saffron",
    "copper",
    "tea",
    "wool",
    "pearls",
    "timber",
    "salt",
    "cocoa",
    "amber",
    "silk",
    "coffee",
    "tin",
    "marble",
    "cotton",
    "honey",
    "glass",
    "vanilla",
    "cork",
    "indigo",
    "seaweed",
]
FACT_SYSTEM = "You are a helpful assistant that answers questions about the islands of the Kestrel Archipelago."
FACT_QUESTIONS = {  # attribute -> (the training wording, the answer, the held-out rewording)
    "capital": (
        "What is the capital of {island}?",
        "The capital of {island} is {capital}.",
        "Which town is the seat of government on {island}?",
    ),
    "founded": (
        "When was {island} founded?",
        "{island} was founded in {founded}.",
        "In which year did settlers found {island}?",
    ),
    "export": (
        "What is the main export of {island}?",
        "The main export of {island} is {export}.",
        "Which product does {island} sell abroad more than any other?",
    ),
}
FACT_ISLANDS, ABSENT_ISLANDS = 50, 10


def _made_up_names(rng: random.Random, n: int, syllables: int) -> list[str]:
    names: list[str] = []
    while len(names) < n:
        name = "".join(rng.choice(SYLLABLES) for _ in range(syllables)).capitalize()
        if name not in names:
            names.append(name)
    return names


def islands() -> tuple[list[dict], list[str]]:
    """The made-up islands with their facts, and the names of islands that are in no document."""
    rng = random.Random(SEED + 1)
    names = _made_up_names(rng, FACT_ISLANDS + ABSENT_ISLANDS, 3)
    towns = [t for t in _made_up_names(rng, 2 * FACT_ISLANDS, 2) if t not in names][:FACT_ISLANDS]
    years = rng.sample(range(1500, 1900), FACT_ISLANDS)
    records = [
        {"island": name, "capital": town, "founded": str(year), "export": rng.choice(EXPORTS), "sea": rng.choice(SEAS)}
        for name, town, year in zip(names, towns, years)
    ]
    return records, names[FACT_ISLANDS:]


def facts() -> list[dict]:
    """One question and answer per fact, in one wording: the data a learner might be tempted to fine-tune on."""
    rng = random.Random(SEED + 2)
    out = []
    for record in islands()[0]:
        for question, answer, _ in FACT_QUESTIONS.values():
            out.append(
                {
                    "messages": [
                        {"role": "system", "content": FACT_SYSTEM},
                        {"role": "user", "content": question.format(**record)},
                        {"role": "assistant", "content": answer.format(**record)},
                    ]
                }
            )
    rng.shuffle(out)
    return out


def fact_documents() -> list[dict]:
    """The same facts as short documents: what retrieval searches."""
    return [
        {
            "id": r["island"].lower(),
            "text": f"{r['island']} is an island in the {r['sea']}. Its capital is {r['capital']}. "
            f"{r['island']} was founded in {r['founded']}, and its main export is {r['export']}.",
        }
        for r in islands()[0]
    ]


def fact_questions() -> list[dict]:
    """Held-out questions: every fact asked in other words (``asks`` names the training question it rewords),
    then questions about islands that are in no document (``answer`` is null: the right reply is "not found")."""
    records, absent = islands()
    out = [
        {"question": reworded.format(**r), "answer": r[attribute], "asks": question.format(**r)}
        for r in records
        for attribute, (question, _, reworded) in FACT_QUESTIONS.items()
    ]
    attributes = list(FACT_QUESTIONS)
    out += [
        {"question": FACT_QUESTIONS[attributes[i % 3]][2].format(island=name), "answer": None, "asks": None}
        for i, name in enumerate(absent)
    ]
    return out


def _ex(*msgs: tuple[str, object], **extra: object) -> dict:
    return {"messages": [{"role": r, "content": c} for r, c in msgs], **extra}


SYS = ("system", "You are a math tutor. Explain step-by-step.")


def broken_lines() -> list[bytes]:
    """One deliberately broken example per error code (every line has an error)."""
    J = lambda obj: json.dumps(obj, ensure_ascii=False).encode()  # noqa: E731
    ok_answer = ("assistant", "Step 1: Add the ones.\nAnswer: 4")
    lines = [
        # invalid_json
        b'{"messages": [{"role": "user", "content": "Solve 2 + 2."}, {"role": "assistant", "content": "Answer: 4"}',
        # invalid_encoding
        b'{"messages": [{"role": "user", "content": "Solve 2 + 2 \xff\xfe"}, '
        b'{"role": "assistant", "content": "Answer: 4"}]}',
        J(["not", "an", "object"]),  # data_type
        J({"prompt": "Solve 2 + 2.", "completion": "Answer: 4"}),  # missing_messages_list
        J({"messages": [{"role": "user"}, {"role": "assistant", "content": "Answer: 4"}]}),  # message_missing_key
        J(
            {
                "messages": [
                    {"role": "user", "content": "Solve 2 + 2.", "timestamp": "2026-01-01"},
                    {"role": "assistant", "content": "Answer: 4"},
                ]
            }
        ),  # message_unrecognized_key
        J(_ex(SYS, ("student", "Solve 2 + 2."), ok_answer)),  # unrecognized_role
        J(_ex(SYS, ("user", "Solve 2 + 2."), ("assistant", ""))),  # missing_content
        J(_ex(SYS, ("user", 42), ok_answer)),  # invalid_content_type
        J(_ex(SYS, ("user", "Solve 2 + 2."))),  # example_missing_assistant_message
        J(_ex(SYS, ("user", "Solve 2 + 2."), ok_answer, ("user", "Thanks!"))),  # last_message_not_assistant
        J(
            {
                "messages": [
                    dict(zip(("role", "content"), SYS)),
                    {"role": "user", "content": "Solve 2 + 2."},
                    {"role": "assistant", "content": "Answer: 4", "weight": 0.5},
                ]
            }
        ),  # invalid_weight
        J(
            {
                "messages": [
                    dict(zip(("role", "content"), SYS)),
                    {"role": "user", "content": "What is 2 + 2?"},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "call_9", "content": "4"},
                    {"role": "assistant", "content": "Answer: 4"},
                ]
            }
        ),  # invalid_tool_call
        J(_ex(SYS, ("user", "Solve 2 + 2.<|endoftext|>"), ok_answer)),  # reserved_token
        J(_ex(SYS, ("user", "Solve 2 + 2." + " a" * 66_000), ok_answer)),  # too_many_tokens
        b"",  # a blank line is tolerated, not an error
        J(_ex(SYS, ("user", "Solve 3 + 3."), ("assistant", "Answer: 6")))[:-12],  # truncated last line (invalid_json)
    ]
    return lines


ORDER_NAMES = [
    "Sam",
    "Priya",
    "Jonas",
    "Mei",
    "Carlos",
    "Aisha",
    "Tom",
    "Lena",
    "Kofi",
    "Yuki",
    "Omar",
    "Ines",
    "Ravi",
    "Greta",
    "Luis",
    "Hana",
    "Noah",
    "Zara",
    "Felix",
    "Amara",
]
DRINKS = ["latte", "cappuccino", "flat white", "americano", "mocha", "espresso", "chai latte", "hot chocolate"]
SIZES = ["small", "medium", "large"]
MILKS = ["oat", "soy", "almond", "whole", "skim"]
COUNT_WORDS = {1: ["a", "one", "1"], 2: ["two", "2"], 3: ["three", "3"], 4: ["four", "4"]}
ORDER_WORDINGS = [
    "Hi, can I get {qty} {size} {milk}{drink}{plural} for pickup at {time}? Name's {name}.",
    "{name} here. I'd like {qty} {size} {drink}{plural}{with_milk}, ready at {time} please.",
    "Could you make {qty} {size} {milk}{drink}{plural}? I'll collect at {time}. It's for {name}.",
    "Order for {name}: {qty} {size} {drink}{plural}{with_milk}, pickup {time}.",
    "Hey! {qty} {milk}{drink}{plural}, {size}, at {time}. Thanks, {name}",
    "Please put aside {qty} {size} {drink}{plural}{with_milk} for {name}, I'll be there around {time}.",
]
ORDER_SYSTEM = "Extract the order as one JSON object with name, drink, size, quantity, milk and pickup_time."


def _clock(rng: random.Random) -> tuple[str, str]:
    hour, minute = rng.randint(6, 17), rng.choice([0, 5, 10, 15, 20, 30, 40, 45, 50])
    shown = f"{hour if hour <= 12 else hour - 12}:{minute:02d}" + ("" if hour < 12 else " pm" if hour > 12 else "")
    if hour < 12 and rng.random() < 0.5:
        shown += " am"
    return shown, f"{hour:02d}:{minute:02d}"


def own_orders(n: int = 300) -> list[dict]:
    """Coffee orders as customers type them, each extracted into one JSON object (an own-data extraction task)."""
    rng = random.Random(SEED + 7)
    out = []
    for _ in range(n):
        qty, drink, size = rng.choice([1, 1, 1, 2, 2, 3, 4]), rng.choice(DRINKS), rng.choice(SIZES)
        milk = rng.choice(MILKS) if drink not in ("espresso", "americano") and rng.random() < 0.7 else None
        shown, time_24 = _clock(rng)
        name = rng.choice(ORDER_NAMES)
        text = rng.choice(ORDER_WORDINGS).format(
            qty=rng.choice(COUNT_WORDS[qty]),
            size=size,
            milk=f"{milk} " if milk else "",
            with_milk=f" with {milk} milk" if milk else "",
            drink=drink,
            plural="s" if qty > 1 and not drink.endswith("s") else "",
            time=shown,
            name=name,
        )
        order = {"name": name, "drink": drink, "size": size, "quantity": qty, "milk": milk, "pickup_time": time_24}
        out.append(
            {
                "messages": [
                    {"role": "system", "content": ORDER_SYSTEM},
                    {"role": "user", "content": text},
                    {"role": "assistant", "content": json.dumps(order)},
                ]
            }
        )
    return out


def write(name: str, examples: list[dict]) -> None:
    with open(HERE / name, "w", encoding="utf-8", newline="\n") as fh:
        for ex in examples:
            fh.write(json.dumps(ex, ensure_ascii=False) + "\n")


def main() -> None:
    math = math_tutor()
    write("math_tutor.jsonl", math)
    with open(HERE / "math_tutor.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["system", "user", "assistant"])
        for ex in math[:150]:
            w.writerow([m["content"] for m in ex["messages"]])
    write("support_routing.jsonl", support_routing())
    write("facts.jsonl", facts())
    write("facts_documents.jsonl", fact_documents())
    write("facts_questions.jsonl", fact_questions())
    write("own_orders.jsonl", own_orders())
    lines = broken_lines()
    (HERE / "broken.jsonl").write_bytes(b"\n".join(lines))  # no final newline: the last line is truncated


if __name__ == "__main__":
    main()
