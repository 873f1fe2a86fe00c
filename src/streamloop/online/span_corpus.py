"""Generated annotated texts for span models: three domains, deterministic by seed.

No annotated corpus ships with streamloop's dependencies, so the span benchmark and tests
generate theirs from templates and word lists written here. Each domain has its own labels,
register and lengths, so that nothing is tuned to one data set:

- ``news``: ``PER``, ``ORG``, ``LOC``, ``DATE`` in edited prose and title-case headlines;
  datelines; most names made up from syllables, so that a model must read shapes and
  contexts rather than remember names, and the same made-up word may be a person, a firm or
  a town; names shared by people, places and firms ("Jordan", "Georgia", "Ford", "May") and
  the same words as plain nouns and verbs ("apple growers", "we may", "gave chase");
  contexts that several types share ("{X} announced", "in {X}"); organisations whose names
  hold a place ("Bank of Velenka"); accented names, some written with combining marks, and
  some in Arabic and Hebrew script;
- ``commerce``: support tickets with ``PRODUCT``, ``MONEY``, ``ORDER_ID``, ``DATE``: IDs and
  prices cut into several tokens, look-alikes that are no entity (tracking and phone numbers,
  versions, quantities), emoji, all-lower-case messages, telegraphic lines where entities
  touch ("refund ORD-4821 $35.00 May 3"), customers' names that are no entity;
- ``clinical``: notes with ``SYMPTOM``, ``DRUG``, ``DOSE``, ``BODY_PART``: lower case,
  abbreviations, made-up drug names with real drugs' endings, a drug and its dose side by
  side, vital signs and weights that look like doses, symptoms that hold a body part
  ("knee pain") beside body parts alone ("the knee").

About one text in ten has no entity, and about one in twenty is a paragraph of several
sentences (100 tokens or more).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from streamloop.online.spans import Span

__all__ = ["DOMAINS", "corpus"]

#: Each domain's labels, in order.
DOMAINS: dict[str, tuple[str, ...]] = {
    "news": ("PER", "ORG", "LOC", "DATE"),
    "commerce": ("PRODUCT", "MONEY", "ORDER_ID", "DATE"),
    "clinical": ("SYMPTOM", "DRUG", "DOSE", "BODY_PART"),
}

#: Share of texts that are paragraphs of several sentences.
_PARAGRAPHS = 0.05
_SLOT = re.compile(r"\{(\w+)\}")

#: Makes a slot's text; a slot's label is ``None`` when what it holds is no entity.
Filler = Callable[[random.Random], str]
Slots = dict[str, list[tuple[str | None, Filler]]]


def _pick(words: str) -> Filler:
    choices = words.split("|")
    return lambda rng: rng.choice(choices)


def _number(low: int, high: int) -> Filler:
    return lambda rng: str(rng.randint(low, high))


# Made-up words, so that most names are new to a model.

_SYLLABLES = _pick(
    "ka|ren|dor|vel|mi|sa|lo|tan|bri|gor|hal|wen|ster|ma|ri|no|ber|quin|zel|tor|ash|ley|bek|"
    "var|lin|os|ur|el|mar|dun|fen|tis|ro|la|ven|cor|al|bar|nes|ith"
)


def _made_up(rng: random.Random, syllables: int = 0) -> str:
    count = syllables or rng.choice((2, 2, 3))
    return "".join(_SYLLABLES(rng) for _ in range(count)).capitalize()


def _maybe_decomposed(rng: random.Random, text: str) -> str:
    # Keyboards and copy-paste give accented letters as one code point or as a letter and a
    # combining mark: both must keep their offsets.
    return unicodedata.normalize("NFD", text) if rng.random() < 0.4 else text


# Dates, shared by news and commerce.

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_WEEKDAYS = "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday"


def _date(rng: random.Random) -> str:
    month = rng.choice(_MONTHS.split("|"))
    day = rng.randint(1, 28)
    year = rng.randint(1990, 2025)
    forms = [
        f"{month} {day}",
        f"{day} {month} {year}",
        f"{month} {day}, {year}",
        f"{month} {year}",
        rng.choice(_WEEKDAYS.split("|")),
        f"{year}",
        f"{year}-{rng.randint(1, 12):02d}-{day:02d}",
        f"{rng.randint(1, 12)}/{day}/{year}",
        f"last {rng.choice(_WEEKDAYS.split('|'))}",
        f"{month[:3]}. {day}",
    ]
    return rng.choice(forms)


# News.

_FIRST = (
    "Maria|John|Aisha|Wei|Olga|Carlos|Fatima|Hiroshi|Emma|Kwame|Jordan|May|Georgia|Paris|"
    "Chase|Sydney|Florence|Austin|Victoria|Lincoln|Priya|Tomás|José|Zoë|Søren|François|"
    "Łukasz|İlkay|Ngozi|Dmitri|Ana|Björn|Chloé|Mehmet|Yuki|Amélie|Raúl|Grace|Hugo|Leila|"
    "Marta|Samuel|Ines|Tariq|Helen|Oskar|Nadia|Pedro|Rosa|Felix"
)
_LAST = (
    "Smith|Okafor|Chen|Petrov|García|Nakamura|Johansson|Mensah|Dubois|Kowalski|Washington|"
    "Jordan|May|Ford|Cook|Banks|Müller|Rossi|Haddad|Novak|Álvarez|Brontë|Gündoğan|Løvås|"
    "Đorđević|Ferreira|O'Neil|Abebe|Lindqvist|Kim|Singh|Nguyễn"
)
_NON_LATIN_NAMES = "ليلى حسن|عمر الفاروق|דוד כהן|מרים לוי|سارة منصور|יעל ברק"
_TITLES = "President|Minister|Senator|Dr.|Judge|Coach|Governor|Mayor|Professor|Ms.|Mr."
_KNOWN_ORGS = (
    "Apple|Amazon|Google|Reuters|the United Nations|Bank of America|New York Times|Ford|Chase|"
    "Shell|Nestlé|Société Générale|Banco do Brasil|Siemens|Red Cross|World Bank"
)
_ORG_ENDINGS = (
    "Holdings|Group|Labs|Inc.|& Sons|Media|Bank|Foundation|Motors|Systems|Partners|Energy|"
    "Airlines|Pharma|Capital|Logistics"
)
_KNOWN_PLACES = (
    "Paris|Jordan|Georgia|Washington|Sydney|Florence|Victoria|Lincoln|Turkey|Chad|Niger|Berlin|"
    "Lagos|Nairobi|Tokyo|São Paulo|Zürich|Kraków|Reykjavík|Malmö|New York|Cape Town|Hanoi|"
    "Mumbai|Cairo|Tel Aviv|Lima|Oslo|Québec|Bogotá|Austin|Düsseldorf"
)


def _surname(rng: random.Random) -> str:
    if rng.random() < 0.35:
        return _maybe_decomposed(rng, rng.choice(_LAST.split("|")))
    return _made_up(rng) + rng.choice(("", "", "son", "sen", "ez", "ski", "ova", "er", "i"))


def _person(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.06:
        return rng.choice(_NON_LATIN_NAMES.split("|"))
    first = _maybe_decomposed(rng, rng.choice(_FIRST.split("|")))
    if roll < 0.18:
        return f"{first} {rng.choice('ABCDEHJKLMPRST')}. {_surname(rng)}"
    return f"{first} {_surname(rng)}"


def _organisation(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.25:
        return _maybe_decomposed(rng, rng.choice(_KNOWN_ORGS.split("|")))
    if roll < 0.4:
        return _made_up(rng)  # a bare brand: looks like a surname or a town
    if roll < 0.5:
        return f"{rng.choice(('Bank', 'University', 'Port Authority'))} of {_place(rng)}"
    return f"{_made_up(rng)} {rng.choice(_ORG_ENDINGS.split('|'))}"


def _place(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return _maybe_decomposed(rng, rng.choice(_KNOWN_PLACES.split("|")))
    if roll < 0.65:
        return f"{rng.choice(('Port', 'New', 'East', 'Lake', 'San', 'North'))} {_made_up(rng)}"
    return _made_up(rng) + rng.choice(("", "", "ville", "burg", "ford", "haven", "ia", "stad"))


_AGENTS: list[tuple[str | None, Filler]] = [("PER", _person), ("ORG", _organisation)]

_NEWS_SLOTS: Slots = {
    "PER": [("PER", _person)],
    "SURNAME": [("PER", _surname)],
    "ORG": [("ORG", _organisation)],
    "LOC": [("LOC", _place)],
    "DATELINE": [("LOC", lambda rng: _place(rng).upper())],
    "DATE": [("DATE", _date)],
    "MONTH": [("DATE", _pick(_MONTHS))],
    # Contexts that several types share.
    "AGENT": _AGENTS,
    "WHERE": [("LOC", _place), ("ORG", _organisation)],
    "WHEN_OR_WHERE": [("LOC", _place), ("DATE", _date)],
    "NAMED": [("PER", _surname), ("ORG", _made_up), ("LOC", _made_up)],
    "title": [(None, _pick(_TITLES))],
    "fruit": [(None, _pick("Apple|Orange|Cherry|Peach|Plum"))],
    "dish": [(None, _pick("roast turkey|apple pie|chicken|grilled fish|lentil soup"))],
    "role": [(None, _pick("chief executive|spokesperson|coach|director|lawyer|treasurer"))],
    "verb": [(None, _pick("said|warned|announced|denied|confirmed|suggested|reported"))],
    "thing": [(None, _pick("the plan|the deal|the merger|the budget|a new stadium|the strike"))],
    "number": [(None, _number(2, 950))],
    "age": [(None, _number(19, 88))],
}

_NEWS = (
    "{PER} met {PER} in {LOC} on {DATE}.",
    "{ORG} {verb} on {DATE} that it would open an office in {LOC}.",
    "Shares of {ORG} fell after its {role}, {PER}, resigned.",
    "{DATELINE}, {DATE} ({ORG}) - {title} {SURNAME} arrived for talks with {ORG}.",
    "{title} {SURNAME} of {LOC} spoke to reporters after the vote.",
    "{PER} may travel to {LOC} in {MONTH}, aides {verb}.",
    "{fruit} growers in {LOC} expect a poor harvest this year.",
    "We had {dish} with {PER} in {LOC} before the match.",
    "Police gave chase through central {LOC} on {DATE}.",
    "{PER} works for {ORG} in {LOC}.",
    "{ORG} and {ORG} agreed to merge, according to {ORG}.",
    "No comment was given by the ministry.",
    "Markets were calm and trading was light.",
    "The minister, {PER}, flew from {LOC} to {LOC} on {DATE}.",
    "In {LOC}, {ORG} hired {PER} as its new {role}.",
    "According to a report {ORG} released on {DATE}, growth slowed to {number} points.",
    "{PER} told the {ORG} board that talks in {LOC} had stalled.",
    "Born in {LOC} in {MONTH} {number}, {PER} studied at the {ORG}.",
    "{AGENT} {verb} {thing} would cost {AGENT} about {number} million.",
    "Fans in {LOC} cheered as {PER} and {PER} lifted the cup.",
    "It may rain in the north, forecasters {verb}.",
    "{title} {PER} {verb} that {LOC} and {LOC} would sign the treaty in {MONTH}.",
    "The {ORG} office in {LOC} closed early on {DATE}.",
    "A spokesperson for {ORG} declined to comment.",
    "{PER}, {age}, of {LOC}, was named {role} of {ORG}.",
    "Turkey prices rose before the holiday, and shoppers in {LOC} paid more.",
    "{LOC} beat {LOC} {number} to {number} on {DATE}.",
    "{AGENT} {verb} {thing} on {DATE}.",
    "Talks will resume in {WHEN_OR_WHERE}, {AGENT} {verb}.",
    "Workers at {WHERE} went on strike over pay.",
    "{NAMED} has not commented on {thing}.",
    "Everyone in {NAMED} knew about {thing} by {DATE}.",
    "Critics of {AGENT} gathered outside the court in {LOC}.",
    "The vote on {thing} was delayed until {DATE}.",
    "{thing} was approved by {number} votes to {number}.",
    "Asked about {thing}, {PER} {verb} only that {NAMED} would decide.",
    "Flights between {LOC} and {LOC} resumed after {ORG} settled with pilots.",
    "Officials {verb} the storm had passed by {DATE}.",
)

# Commerce.

_KNOWN_PRODUCTS = (
    "iPhone 14|Galaxy S23|Pixel 8 Pro|Kindle Paperwhite|AirPods Pro|ThinkPad X1|Echo Dot|"
    "Apple Watch|Jordan 1 Retro|Nest thermostat|Roomba j7|Switch OLED|MacBook Air|"
    "Café Crème grinder|Dyson V15|GoPro Hero 12"
)
_PRODUCT_WORDS = "Air|Pro|Max|Mini|Lite|Plus|Ultra|Go|One|Edge|Neo|Flex"
_PRODUCT_KINDS = "blender|headphones|router|stroller|kettle|speaker|charger|monitor|drill|lamp"


def _product(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(_KNOWN_PRODUCTS.split("|"))
    brand = _made_up(rng)
    model = rng.choice(
        (
            f"{rng.choice('XSVZTQ')}{rng.randint(1, 900)}",
            rng.choice(_PRODUCT_WORDS.split("|")),
            f"{rng.choice(_PRODUCT_WORDS.split('|'))} {rng.randint(2, 9)}",
        )
    )
    if roll < 0.7:
        return f"{brand} {model}"
    return f"{brand} {model} {rng.choice(_PRODUCT_KINDS.split('|'))}"


def _money(rng: random.Random) -> str:
    amount = rng.choice([rng.randint(3, 99), rng.randint(100, 2500)])
    cents = rng.choice(["", f".{rng.randint(0, 99):02d}"])
    forms = [
        f"{rng.choice(('$', '€', '£', '¥', '₹'))}{amount}{cents}",
        f"{amount}{cents} {rng.choice(['USD', 'EUR', 'GBP'])}",
        f"{amount} dollars",
        f"${amount // 1000},{amount % 1000:03d}" if amount >= 1000 else f"${amount}",
    ]
    return rng.choice(forms)


def _order_id(rng: random.Random) -> str:
    forms = [
        f"ORD-{rng.randint(10000, 99999)}",
        f"#A{rng.randint(10000, 99999)}",
        f"{rng.randint(100, 999)}-{rng.randint(1000000, 9999999)}-{rng.randint(1000, 9999)}",
        f"PO{rng.randint(1000, 9999)}",
        f"{rng.randint(10000000, 99999999)}",
    ]
    return rng.choice(forms)


def _look_alike(rng: random.Random) -> str:
    # Numbers that are no entity: tracking and phone numbers, versions, quantities.
    forms = [
        f"1Z{rng.randint(100000, 999999)}",
        f"{rng.randint(200, 999)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        f"version {rng.randint(1, 9)}.{rng.randint(0, 20)}",
        f"{rng.randint(2, 12)} units",
        f"{rng.randint(10000000, 99999999)}",
    ]
    return rng.choice(forms)


_COMMERCE_SLOTS: Slots = {
    "PRODUCT": [("PRODUCT", _product)],
    "MONEY": [("MONEY", _money)],
    "ORDER_ID": [("ORDER_ID", _order_id)],
    "DATE": [("DATE", _date)],
    "name": [(None, _pick("Jordan|May|Priya|Tom|Ana|Chase|Zoë|Mehmet|Sydney|Grace"))],
    "emoji": [(None, _pick("😡|🙏|👍🏽|😤|❤️|🤷\u200d♀️|📦|😍"))],
    "problem": [
        (
            None,
            _pick(
                "arrived broken|stopped working|will not charge|is missing a part|"
                "keeps restarting|was the wrong colour|never arrived|smells of smoke"
            ),
        )
    ],
    "number": [(None, _number(2, 30))],
    "reference": [(None, _look_alike)],
}

_COMMERCE = (
    "Order {ORDER_ID} for the {PRODUCT} has not arrived since {DATE}.",
    "I was charged {MONEY} twice for order {ORDER_ID}.",
    "May I get a refund of {MONEY} for my {PRODUCT}?",
    "My {PRODUCT} {problem} on {DATE}. Order number {ORDER_ID}.",
    "Hi, the {PRODUCT} I bought for {MONEY} {problem} {emoji}",
    "Price match please: the {PRODUCT} is {MONEY} at another store.",
    "Thanks for the quick help! {name}",
    "refund {ORDER_ID} {MONEY} {DATE}",
    "Cancel {ORDER_ID} please, I ordered the {PRODUCT} by mistake.",
    "where is my package?? {emoji}",
    "{PRODUCT} - {MONEY} - delivered {DATE}",
    "The invoice dated {DATE} shows {MONEY} instead of {MONEY}.",
    "Can I swap my {PRODUCT} for a {PRODUCT}? I paid {MONEY}.",
    "Still waiting on {ORDER_ID} {emoji} it has been {number} days",
    "{name} here: my {PRODUCT} {problem} again.",
    "You may close this ticket, the {PRODUCT} works now.",
    "I love my new {PRODUCT} {emoji}",
    "Was I charged {MONEY} or {MONEY} for {ORDER_ID}? The app says {DATE}.",
    "Please call me back on {reference}, {name}.",
    "ordered {number} of the {PRODUCT} on {DATE}, got only one",
    "The coupon took {MONEY} off, so the {PRODUCT} was {MONEY}.",
    "Tracking says {reference} but order {ORDER_ID} is not here.",
    "After updating to {reference} my {PRODUCT} {problem}.",
    "I need {reference} of the {PRODUCT} for the office by {DATE}.",
    "Your courier left the parcel outside in the rain {emoji}",
    "is {ORDER_ID} the {PRODUCT} or the {PRODUCT}?",
    "The {PRODUCT} cost {MONEY} on {DATE} and {MONEY} a week later!",
)

# Clinical.

_KNOWN_DRUGS = (
    "metformin|lisinopril|aspirin|ibuprofen|amoxicillin|atorvastatin|Tylenol|Lasix|omeprazole|"
    "prednisone|warfarin|insulin glargine|salbutamol|paracetamol|amlodipine|sertraline"
)
_DRUG_ENDINGS = "olol|pril|statin|mab|cillin|azole|sartan|oxetine|mycin|pine|tidine|vir"
_BODY_PARTS = (
    "knee|back|chest|abdomen|arm|head|throat|ankle|neck|leg|shoulder|hand|hip|jaw|eye|wrist|"
    "foot|elbow"
)
_SIDED = frozenset(("knee", "arm", "ankle", "leg", "shoulder", "hand", "hip", "wrist", "foot"))
_SYMPTOMS = (
    "headache|shortness of breath|nausea|fever|dizziness|cough|rash|fatigue|numbness|"
    "palpitations|vomiting|blurred vision|night sweats|tingling|wheezing|chills|insomnia|"
    "confusion|weight loss"
)


def _drug(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(_KNOWN_DRUGS.split("|"))
    return _made_up(rng).lower() + rng.choice(_DRUG_ENDINGS.split("|"))


def _dose(rng: random.Random) -> str:
    amount = rng.choice(["5", "10", "20", "40", "81", "250", "500", "850", "1000", "0.5", "2"])
    unit = rng.choice(["mg", "mg", "mg", "mcg", "g", "units", "mL", "puffs"])
    when = rng.choice(["", "", " daily", " bid", " twice daily", " at night", " q6h", " PO"])
    return f"{amount} {unit}{when}"


def _body_part(rng: random.Random) -> str:
    part = rng.choice(_BODY_PARTS.split("|"))
    if part in _SIDED:
        return rng.choice(("left ", "right ", "")) + part
    if part in ("back", "abdomen"):
        return rng.choice(("lower ", "upper ", "")) + part
    return part


def _symptom(rng: random.Random) -> str:
    if rng.random() < 0.35:  # a symptom that holds a body part
        part = rng.choice(_BODY_PARTS.split("|"))
        return rng.choice((f"{part} pain", f"pain in the {part}", f"{part} swelling"))
    return rng.choice(_SYMPTOMS.split("|"))


def _measure(rng: random.Random) -> str:
    # Numbers and units that are no dose: vital signs, weights, durations.
    forms = [
        f"BP {rng.randint(95, 180)}/{rng.randint(55, 110)}",
        f"HR {rng.randint(50, 130)}",
        f"temp {rng.randint(36, 40)}.{rng.randint(0, 9)}",
        f"weight {rng.randint(45, 130)} kg",
        f"{rng.randint(2, 10)} days",
    ]
    return rng.choice(forms)


_CLINICAL_SLOTS: Slots = {
    "SYMPTOM": [("SYMPTOM", _symptom)],
    "DRUG": [("DRUG", _drug)],
    "DOSE": [("DOSE", _dose)],
    "BODY_PART": [("BODY_PART", _body_part)],
    "weeks": [(None, _number(1, 6))],
    "age": [(None, _number(18, 95))],
    "sex": [(None, _pick("m|f|M|F|male|female"))],
    "measure": [(None, _measure)],
}

_CLINICAL = (
    "pt c/o {SYMPTOM} radiating to {BODY_PART}.",
    "Started {DRUG} {DOSE} for {SYMPTOM}.",
    "Denies {SYMPTOM} or {SYMPTOM}.",
    "Exam: tenderness over the {BODY_PART}, no {SYMPTOM}.",
    "Continue {DRUG} {DOSE}; stop {DRUG}.",
    "{SYMPTOM} since last week, worse at night.",
    "Came back with {SYMPTOM}; cold compress applied to {BODY_PART}.",
    "Follow up in {weeks} weeks.",
    "Vitals stable, {measure}. Discharged home.",
    "Allergic to {DRUG} ({SYMPTOM}).",
    "{DRUG} {DOSE}, {DRUG} {DOSE} at bedtime.",
    "Reports {SYMPTOM} after taking {DRUG}.",
    "{age} yo {sex} with {SYMPTOM} and {SYMPTOM} x {weeks} days.",
    "{BODY_PART}: {SYMPTOM}, no bruising.",
    "Increase {DRUG} to {DOSE}.",
    "Head CT negative. {SYMPTOM} resolved.",
    "Swelling of the {BODY_PART} improved on {DRUG}.",
    "Plan: {DRUG} {DOSE} for {weeks} days, recheck {BODY_PART} in clinic.",
    "No acute distress, {measure}.",
    "pt states {SYMPTOM} started {weeks} days ago, took {DRUG} with no relief",
    "Back to work in {weeks} weeks, avoid lifting with the {BODY_PART}.",
    "{measure}, {measure}; {SYMPTOM} on exertion.",
    "Switched from {DRUG} to {DRUG} because of {SYMPTOM}.",
    "X-ray of the {BODY_PART} shows no fracture.",
    "Gave {DOSE} of {DRUG} in the ED, {SYMPTOM} eased.",
    "Family history of {SYMPTOM}; {measure}.",
)

_DOMAINS: dict[str, tuple[tuple[str, ...], Slots]] = {
    "news": (_NEWS, _NEWS_SLOTS),
    "commerce": (_COMMERCE, _COMMERCE_SLOTS),
    "clinical": (_CLINICAL, _CLINICAL_SLOTS),
}
# Support tickets and notes are often typed in lower case throughout; news has headlines.
_LOWER_CASED = {"news": 0.0, "commerce": 0.15, "clinical": 0.1}
_HEADLINES = {"news": 0.1, "commerce": 0.0, "clinical": 0.0}
# What a text may open or close with, so that contexts vary beyond the templates.
_OPENERS = {
    "news": ("", "", "", "UPDATE: ", "Breaking: ", "Analysis - ", "(Corrected) "),
    "commerce": ("", "", "", "Hello: ", "URGENT: ", "Re: ", "Subject: help - "),
    "clinical": ("", "", "", "Update: ", "ED note: ", "Per nursing: ", "HPI: "),
}
_CLOSERS = {
    "news": ("", "", "", " More to follow.", " Talks resume next week.", " (Reporting by staff)"),
    "commerce": ("", "", "", " Thanks.", " pls help", " Regards", " !!!"),
    "clinical": ("", "", "", " Will monitor.", " D/w attending.", " See above."),
}


def corpus(domain: str, n: int, seed: int = 0) -> list[tuple[dict[str, Any], list[Span]]]:
    """``n`` annotated texts of a domain: each item's data (``{"text": ...}``) and its spans.

    Equal arguments give equal texts, in any process.

    Parameters
    ----------
    domain
        One of `DOMAINS`.
    n
        How many texts.
    seed
        Seeds the choice of templates and words.

    Raises
    ------
    ValueError
        If the domain is unknown.

    Examples
    --------
    >>> data, spans = corpus("clinical", 8, seed=1)[7]
    >>> data["text"]
    'Continue Tylenol 40 mL q6h; stop prednisone.'
    >>> [(data["text"][s.start : s.end], s.label) for s in spans]
    [('Tylenol', 'DRUG'), ('40 mL q6h', 'DOSE'), ('prednisone', 'DRUG')]
    >>> corpus("news", 50, seed=3) == corpus("news", 50, seed=3)
    True
    """
    if domain not in _DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of: {', '.join(DOMAINS)}")
    templates, slots = _DOMAINS[domain]
    # A string seed is hashed with SHA-512, the same in every process.
    rng = random.Random(f"{domain}/{seed}")
    items: list[tuple[dict[str, Any], list[Span]]] = []
    for _ in range(n):
        sentences = rng.randint(6, 10) if rng.random() < _PARAGRAPHS else 1
        text, spans = rng.choice(_OPENERS[domain]), []
        for _ in range(sentences):
            sentence, found = _fill(rng.choice(templates), slots, rng)
            if text and not text.endswith(" "):
                text += " "
            spans += [Span(s.start + len(text), s.end + len(text), s.label) for s in found]
            text += sentence
        text += rng.choice(_CLOSERS[domain])
        if rng.random() < _LOWER_CASED[domain]:
            text = _same_length(text, text.lower())
        elif rng.random() < _HEADLINES[domain]:
            title = " ".join(word[:1].upper() + word[1:] for word in text.split(" "))
            text = _same_length(text, title)
        items.append(({"text": text}, spans))
    return items


def _same_length(text: str, changed: str) -> str:
    # A few letters change length with their case ("İ"); the offsets must hold.
    return changed if len(changed) == len(text) else text


def _fill(template: str, slots: Slots, rng: random.Random) -> tuple[str, list[Span]]:
    parts: list[str] = []
    spans: list[Span] = []
    length = at = 0
    for match in _SLOT.finditer(template):
        parts.append(template[at : match.start()])
        length += match.start() - at
        label, fill = rng.choice(slots[match.group(1)])
        value = fill(rng)
        if label is not None:
            spans.append(Span(length, length + len(value), label))
        parts.append(value)
        length += len(value)
        at = match.end()
    parts.append(template[at:])
    return "".join(parts), spans
