"""Regenerate the demo data in data/: items, gold items, the simulator's hidden truth,
and the talent pool. Deterministic (seeded); run `python scripts/make_demo_data.py`.

The items are synthetic software-engineering preference pairs: for each prompt one
response is sound and the other has a planted flaw (a wrong claim, a missed edge case,
an unhelpful brush-off). Which side is better is random. The truth lives only in
data/demo/truth.jsonl, which the simulated workforce reads and the flow never does.
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
rng = random.Random(20261126)

TOPICS = [
    ("reverse a singly linked list in Python", "iterate once, re-pointing each node's next to the previous node; O(n) time, O(1) extra space",
     "convert the list to a Python list, reverse it and rebuild the nodes; this is O(1) time"),
    ("find duplicates in a list of integers", "walk the list once keeping a set of seen values; anything already in the set is a duplicate; O(n)",
     "sort the list and compare each element with every other element, which is the fastest approach"),
    ("explain the difference between a process and a thread", "processes have separate address spaces; threads share one process's memory, so they are cheaper to create but need synchronisation",
     "there is no real difference; the words are interchangeable in modern operating systems"),
    ("avoid SQL injection when building a query from user input", "use parameterised queries (placeholders) so the driver sends data separately from the SQL text; never format strings into SQL",
     "escape single quotes with a replace() call; that covers every injection"),
    ("choose between a list and a tuple in Python", "use a tuple for fixed, hashable records and a list for a sequence you will modify",
     "always use lists; tuples are deprecated"),
    ("make an HTTP request with a timeout using requests", "pass timeout=(connect, read) to requests.get, e.g. requests.get(url, timeout=(3, 10)), and handle requests.Timeout",
     "requests has a global default timeout of 30 seconds, so nothing needs to be done"),
    ("read a large CSV file without running out of memory", "stream it: pandas.read_csv(..., chunksize=100_000) or the csv module row by row, aggregating as you go",
     "call read_csv normally and add more swap space"),
    ("explain what a race condition is", "two operations on shared state interleave so the result depends on timing; fix with locks, atomic operations or by not sharing state",
     "a race condition is when a program runs too fast for the CPU"),
    ("write a function that checks if a string is a palindrome", "normalise case and drop non-alphanumerics, then compare the string with its reverse: s == s[::-1]",
     "compare the first and last characters only; if they match it is a palindrome"),
    ("store passwords in a database", "hash them with a slow, salted password hash such as argon2id or bcrypt and store only the hash",
     "encrypt them with AES and keep the key next to the database so users can recover them"),
    ("explain Big-O of binary search", "each step halves the search range, so it takes O(log n) comparisons on a sorted array",
     "binary search is O(n log n) because it sorts the array each time"),
    ("handle errors in an async Python function", "wrap the awaited call in try/except for the specific exceptions and let asyncio.gather(..., return_exceptions=True) collect failures when fanning out",
     "async functions cannot raise exceptions, so no handling is needed"),
    ("merge two sorted arrays", "walk both with two indices, appending the smaller head each time; O(n + m)",
     "concatenate them and the result is already sorted"),
    ("escape user-provided text before inserting it into HTML like <script>alert(1)</script>", "HTML-escape it (html.escape or the template engine's autoescape) so <script> becomes &lt;script&gt; and is shown, not run",
     "insert it as-is; browsers ignore script tags that come from users"),
    ("version a REST API", "put the major version in the path or a header (/v1/...), keep old versions running during a deprecation window and document changes",
     "change the endpoints in place; clients will adapt"),
    ("debug a memory leak in a long-running Python service", "take heap snapshots over time with tracemalloc, compare the top allocation sites and look for caches or global lists that only grow",
     "restart the service every hour; leaks are impossible to find in Python"),
    ("choose an index for a slow SQL query", "run EXPLAIN, find the filter and join columns driving the scan, and add a composite index on them in selectivity order",
     "add an index on every column of every table"),
    ("explain what a deadlock is", "two or more threads each hold a lock the other needs and wait forever; avoid it with a global lock order or timeouts",
     "a deadlock is when a thread finishes early"),
    ("write a unit test for a function that calls an external API", "inject the client and pass a fake in the test, or record a response; assert on the behaviour, not on the network",
     "call the real API in every test run; it is the only honest test"),
    ("compute the median of a stream of numbers", "keep two heaps, a max-heap for the lower half and a min-heap for the upper half, rebalancing so their sizes differ by at most one",
     "keep a running average; the average is the median"),
    ("parse JSON safely in JavaScript", "use JSON.parse inside try/catch and validate the shape of the result before using it",
     "use eval() on the string; it is faster than JSON.parse"),
    ("explain git rebase versus merge", "merge records both histories with a merge commit; rebase replays your commits on top of the target, giving a linear history but rewriting commit ids",
     "rebase deletes the other branch's commits"),
    ("limit the rate of requests to an API", "use a token bucket per client: tokens refill at the allowed rate and each request spends one, rejecting with 429 when empty",
     "sleep for one second at the start of every request handler"),
    ("explain what a closure is", "a function that captures variables from the scope it was defined in and keeps them alive after that scope returns",
     "a closure is a function that closes the program when called"),
    ("deduplicate rows in a pandas DataFrame", "df.drop_duplicates(subset=[...], keep='first'), choosing the key columns that define a duplicate",
     "loop over every pair of rows with iterrows and delete matches, which is the idiomatic way"),
    ("make a Docker image smaller", "use a slim base image, a multi-stage build that copies only the artefacts, and combine RUN steps that clean package caches",
     "images cannot be made smaller once built"),
    ("explain CAP theorem", "under a network partition a distributed store must choose between consistency and availability; without partitions it can have both",
     "CAP says a database can only ever have one of consistency, availability or partition tolerance"),
    ("retry a flaky network call", "retry only idempotent calls on transient errors, with exponential backoff, jitter and a cap on attempts",
     "wrap it in while True until it works"),
    ("explain what a hash map's load factor is", "entries divided by buckets; when it passes a threshold the table resizes to keep lookups O(1) on average",
     "the load factor is the size of each key in bytes"),
    ("validate an email address", "check for a plausible shape with a lenient pattern, then confirm ownership by sending a verification link",
     "reject any address that contains a plus sign or a dot"),
    ("profile a slow Python function", "run it under cProfile or py-spy, sort by cumulative time and optimise the hottest call sites first",
     "add print statements with timestamps to every line"),
    ("explain the difference between TCP and UDP", "TCP is connection-oriented with ordered, reliable delivery and congestion control; UDP sends independent datagrams with no delivery guarantee",
     "UDP is just an older, slower version of TCP"),
    ("explain why floating point 0.1 + 0.2 != 0.3", "0.1 and 0.2 have no exact binary representation, so their sum rounds to a nearby double; compare with a tolerance or use Decimal",
     "it is a bug in Python that was fixed in version 3.12"),
    ("structure logging in a web service", "emit structured (JSON) logs with a request id, level and context fields, and ship them to a central store",
     "print everything to stdout with no levels; more is always better"),
    ("explain what an idempotent operation is", "doing it twice has the same effect as doing it once, e.g. PUT of a full resource, which makes retries safe",
     "an idempotent operation is one that never fails"),
    ("paginate a large database table in an API", "use keyset pagination: order by a unique key and ask for rows after the last key seen, which stays fast at any depth",
     "use OFFSET with ever larger numbers; it is constant time"),
    ("free a port that says 'address already in use'", "find the process holding it with ss -ltnp or lsof -i :PORT and stop it, or set SO_REUSEADDR for TIME_WAIT sockets",
     "reboot the machine every time"),
    ("explain type hints in Python", "annotations that document expected types and let tools like mypy check them; they do not change runtime behaviour",
     "type hints make Python compile to C and run faster"),
    ("secure an API key in a frontend app", "do not ship secret keys to the browser: call your own backend, which holds the key and enforces limits",
     "obfuscate the key with base64 in the JavaScript bundle"),
    ("explain eventual consistency", "replicas may disagree briefly after a write but converge if no new writes arrive; reads can be stale",
     "eventual consistency means data is eventually deleted"),
]
STYLES = [
    "How do I {t}?", "What's the best way to {t}?", "Can you show me how to {t}?",
    "I need to {t}. What should I do?", "Quick question: how would you {t}?",
    "Explain how to {t}, briefly.",
]


def pair(topic: tuple[str, str, str]) -> tuple[str, str, str]:
    t, good, bad = topic
    prompt = rng.choice(STYLES).format(t=t)
    if t.startswith("explain"):
        prompt = rng.choice(["Please {t}.", "Could you {t}?", "{T}."]).format(t=t, T=t[0].upper() + t[1:])
    good_r = f"{rng.choice(['Sure.', 'Good question.', 'Here is the usual approach:', ''])} " \
             f"{good[0].upper()}{good[1:]}.".strip()
    bad_r = f"{rng.choice(['Easy:', 'Simple.', 'Honestly,', ''])} {bad[0].upper()}{bad[1:]}.".strip()
    return prompt, good_r, bad_r


def build(n: int, prefix: str) -> list[dict]:
    rows = []
    for i in range(n):
        prompt, good, bad = pair(TOPICS[i % len(TOPICS)])
        better = rng.choice("ab")
        a, b = (good, bad) if better == "a" else (bad, good)
        rows.append({"item_id": f"{prefix}{i + 1:04d}", "prompt": prompt,
                     "response_a": a, "response_b": b, "_better": better})
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def responses(n: int, prefix: str) -> list[dict]:
    """Prompt/response pairs of mixed quality, with a latent quality 1..5."""
    rows = []
    for i in range(n):
        t, good, bad = TOPICS[(i * 7) % len(TOPICS)]
        q = rng.choice([1, 2, 3, 4, 5])
        body = good if q >= 3 else bad
        extra = {5: " It also covers the edge cases and explains the trade-offs.",
                 4: " It mentions the main edge case.", 3: "", 2: " (no explanation given)",
                 1: " Trust me."}[q]
        rows.append({"item_id": f"{prefix}{i + 1:04d}", "prompt": f"How do I {t}?",
                     "response": f"{body[0].upper()}{body[1:]}.{extra}", "_q": q})
    return rows


TICKETS = {
    "billing": ["I was charged twice for my subscription this month.",
                "Can I get an invoice with our VAT number on it?",
                "Why did my card get declined when renewing the plan?"],
    "bug": ["The export button does nothing when I click it in Firefox.",
            "The app crashes when I upload a file larger than 2 GB.",
            "Dates in the report are shown one day off for our timezone."],
    "feature_request": ["Please add dark mode to the dashboard.",
                        "It would help to schedule reports to go out every Monday.",
                        "Could you support single sign-on with our identity provider?"],
    "account": ["I cannot log in after changing my email address.",
                "How do I transfer ownership of the workspace to a colleague?",
                "Please delete my account and all of its data."],
}


def graded_pairs(items: list[dict], gold: list[dict]) -> None:
    """The first 40 demo pairs (+ 10 gold) on a 5-point scale with ties: -2 A much better,
    -1 A better, 0 tie, 1 B better, 2 B much better."""
    def grade(i: int, better: str) -> str:
        if i % 10 == 9:
            return "0"
        return ("-" if better == "a" else "") + ("2" if i % 2 else "1")
    rows = [(r, grade(i, r["_better"])) for i, r in enumerate(items[:40] + gold[:10])]
    strip = lambda r: {k: v for k, v in r.items() if k != "_better"}  # noqa: E731
    write_jsonl(ROOT / "data/demo/pairwise_graded/items.jsonl", [strip(r) for r, _ in rows[:40]])
    write_jsonl(ROOT / "data/demo/pairwise_graded/gold.jsonl",
                [{**strip(r), "answer": g} for r, g in rows[40:]])
    write_jsonl(ROOT / "data/demo/pairwise_graded/truth.jsonl",
                [{"item_id": r["item_id"], "answer": {"preference": g}} for r, g in rows])


def other_types() -> None:
    """Demo data for the other task types: 40 items (+ gold where the type has gold)."""
    crit = ("correctness", "clarity", "completeness")
    # rubric grading: criterion scores follow the latent quality, with some spread
    rg = responses(40, "rg-") + responses(10, "rg-gold-")
    truth = []
    for r in rg:
        scores = {c: str(min(5, max(1, r["_q"] + rng.choice([-1, 0, 0, 1])))) for c in crit}
        r["_a"] = scores
        truth.append({"item_id": r["item_id"], "answer": scores})
    write_jsonl(ROOT / "data/demo/rubric_grading/items.jsonl",
                [{k: v for k, v in r.items() if not k.startswith("_")} for r in rg[:40]])
    write_jsonl(ROOT / "data/demo/rubric_grading/gold.jsonl",
                [{**{k: v for k, v in r.items() if not k.startswith("_")}, "answer": r["_a"]}
                 for r in rg[40:]])
    write_jsonl(ROOT / "data/demo/rubric_grading/truth.jsonl", truth)
    # likert rating: the latent quality is the rating
    lk = responses(40, "lk-") + responses(10, "lk-gold-")
    write_jsonl(ROOT / "data/demo/likert_rating/items.jsonl",
                [{k: v for k, v in r.items() if not k.startswith("_")} for r in lk[:40]])
    write_jsonl(ROOT / "data/demo/likert_rating/gold.jsonl",
                [{**{k: v for k, v in r.items() if not k.startswith("_")}, "answer": r["_q"]}
                 for r in lk[40:]])
    write_jsonl(ROOT / "data/demo/likert_rating/truth.jsonl",
                [{"item_id": r["item_id"], "answer": {"rating": str(r["_q"])}} for r in lk])
    # classification: support tickets, one label each
    cl = []
    for i in range(50):
        label = list(TICKETS)[i % len(TICKETS)]
        text = rng.choice(TICKETS[label]) + rng.choice(["", " Thanks!", " This is urgent.",
                                                        " Any update?", " <b>Please help</b>"])
        cl.append({"item_id": f"cl-{i + 1:04d}" if i < 40 else f"cl-gold-{i - 39:04d}",
                   "text": text, "_l": label})
    write_jsonl(ROOT / "data/demo/classification/items.jsonl",
                [{"item_id": r["item_id"], "text": r["text"]} for r in cl[:40]])
    write_jsonl(ROOT / "data/demo/classification/gold.jsonl",
                [{"item_id": r["item_id"], "text": r["text"], "answer": r["_l"]} for r in cl[40:]])
    write_jsonl(ROOT / "data/demo/classification/truth.jsonl",
                [{"item_id": r["item_id"], "answer": {"label": r["_l"]}} for r in cl])
    # solution authoring: prompts; the truth is a reference solution
    sa = [{"item_id": f"sa-{i + 1:04d}", "prompt": f"Explain to a junior engineer how to {t}.",
           "_ref": f"{good[0].upper()}{good[1:]}. Test it on the empty case and on a large input "
                   f"before relying on it; note what would change for {t.split()[-1]}."}
          for i, (t, good, _) in enumerate(TOPICS[:30])]
    write_jsonl(ROOT / "data/demo/solution_authoring/items.jsonl",
                [{"item_id": r["item_id"], "prompt": r["prompt"]} for r in sa])
    write_jsonl(ROOT / "data/demo/solution_authoring/truth.jsonl",
                [{"item_id": r["item_id"], "text": r["_ref"]} for r in sa])
    # rubric authoring: prompts; the truth is a rubric, one criterion per line
    ra = [{"item_id": f"ra-{i + 1:04d}", "prompt": f"Write a rubric for grading answers to: how "
                                                   f"do I {t}?",
           "_ref": "\n".join([f"correctness | 3 | states that one should {good.split(';')[0]}",
                              "edge_cases | 2 | mentions empty and very large inputs",
                              "clarity | 1 | explains it in plain words a junior can follow",
                              f"pitfalls | 1 | warns against: {bad.split(';')[0]}"])}
          for i, (t, good, bad) in enumerate(TOPICS[:30])]
    write_jsonl(ROOT / "data/demo/rubric_authoring/items.jsonl",
                [{"item_id": r["item_id"], "prompt": r["prompt"]} for r in ra])
    write_jsonl(ROOT / "data/demo/rubric_authoring/truth.jsonl",
                [{"item_id": r["item_id"], "text": r["_ref"]} for r in ra])


#: the demo's models (what wrote each response) and their Bradley-Terry strengths
MODELS = {"model-d": 0.25, "model-c": 0.5, "model-b": 1.0, "model-a": 2.0}


def models(items: list[dict]) -> dict[str, dict[str, str]]:
    """Who wrote each demo response: two of MODELS per item, the better response by the
    stronger one as often as Bradley-Terry says (its own random stream, so the rest of the
    demo data is as before)."""
    r = random.Random(20261128)
    out = {}
    for item in items:
        x, y = r.sample(sorted(MODELS), 2)
        better, worse = (x, y) if r.random() < MODELS[x] / (MODELS[x] + MODELS[y]) else (y, x)
        a, b = (better, worse) if item["_better"] == "a" else (worse, better)
        out[item["item_id"]] = {"model_a": a, "model_b": b}
    return out


def main() -> None:
    items = build(200, "swe-")
    gold = build(40, "gold-")
    wrote = models(items)
    write_jsonl(ROOT / "data/demo/items.jsonl",
                [{**{k: v for k, v in r.items() if k != "_better"}, **wrote[r["item_id"]]}
                 for r in items])
    write_jsonl(ROOT / "data/demo/gold.jsonl",
                [{**{k: v for k, v in r.items() if k != "_better"}, "answer": r["_better"]}
                 for r in gold])
    write_jsonl(ROOT / "data/demo/truth.jsonl",
                [{"item_id": r["item_id"], "answer": {"preference": r["_better"]}}
                 for r in items + gold])
    graded_pairs(items, gold)

    domains = ["software-engineering", "medicine", "law", "finance", "music"]
    first = ["Ada", "Linus", "Grace", "Ken", "Barbara", "Donald", "Margaret", "Edsger", "Frances",
             "Dennis", "Radia", "Niklaus", "Sophie", "Tim", "Anita", "Guido", "Hedy", "Alan"]
    last = ["Okafor", "Nakamura", "Silva", "Novak", "Haddad", "Larsen", "Moreau", "Kowalski",
            "Ibrahim", "Chen", "Fischer", "Rossi", "Patel", "Svensson"]
    pool = []
    for i in range(1, 61):
        dom = [domains[i % len(domains)]]
        if i % 7 == 0:
            dom.append(domains[(i + 2) % len(domains)])
        if i % 3 == 0 and "software-engineering" not in dom:
            dom.append("software-engineering")
        langs = ["en"] + (["de"] if i % 4 == 0 else []) + (["fr"] if i % 9 == 0 else [])
        if i % 11 == 0:
            langs = ["fr"]
        name = f"{rng.choice(first)} {rng.choice(last)}"
        pool.append({
            "expert_id": f"ex-{i:04d}", "name": name,
            "email": f"{name.lower().replace(' ', '.')}.{i}@experts.example.org",
            "domains": ";".join(dom), "languages": ";".join(langs),
            "vetting_score": round(rng.uniform(0.45, 0.98), 2),
            "hourly_rate_usd": rng.choice([45, 60, 75, 90, 120]),
            "weekly_hours": rng.choice([5, 10, 15, 20]),
            # senior experts who may review a campaign's sample (qc.review)
            "skills": "reviewer" if i % 6 == 0 else "",
        })
    with (ROOT / "data/talent_pool.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(pool[0]))
        w.writeheader()
        w.writerows(pool)
    other_types()
    qualification(items, gold)


def qualification(items: list[dict], gold: list[dict]) -> None:
    """A qualification set for the demo's pairwise work, kept apart from its production
    gold (no shared id or content), and its truth for the simulator (made last: the other
    files do not change)."""
    seen = {(r["prompt"], r["response_a"], r["response_b"]) for r in items + gold}
    rows = [r for r in build(40, "qual-") if (r["prompt"], r["response_a"], r["response_b"])
            not in seen][:12]
    write_jsonl(ROOT / "data/demo/qualification.jsonl",
                [{**{k: v for k, v in r.items() if k != "_better"}, "answer": r["_better"]}
                 for r in rows])
    write_jsonl(ROOT / "data/demo/truth.jsonl",
                [{"item_id": r["item_id"], "answer": {"preference": r["_better"]}}
                 for r in items + gold + rows])


if __name__ == "__main__":
    main()
