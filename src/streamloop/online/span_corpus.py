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

from streamloop.online.tokens import Span

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
_CHOICE = re.compile(r"\[([^\[\]]*)\]")

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
    "YEAR": [("DATE", _number(1950, 2005))],
    # Contexts that several types share: the same made-up word may be a person, a firm or a
    # place, and only the annotator knows which.
    "AGENT": [("PER", _person), ("ORG", _organisation)],
    "WHERE": [("LOC", _place), ("ORG", _organisation)],
    "NAMED_AGENT": [("PER", _surname), ("ORG", _made_up)],
    "NAMED_PLACE": [("LOC", _made_up), ("ORG", _made_up)],
    "title": [(None, _pick(_TITLES))],
    "fruit": [(None, _pick("Apple|Orange|Cherry|Peach|Plum"))],
    "dish": [(None, _pick("roast turkey|apple pie|chicken|grilled fish|lentil soup"))],
    "role": [(None, _pick("chief executive|spokesperson|coach|director|lawyer|treasurer"))],
    "verb": [(None, _pick("said|warned|announced|denied|confirmed|suggested|reported"))],
    "thing": [(None, _pick("the plan|the deal|the merger|the budget|a new stadium|the strike"))],
    "number": [(None, _number(2, 950))],
    "age": [(None, _number(19, 88))],
}

# "[a|b]" picks one of its choices (maybe empty), so that contexts vary within a template.
_NEWS = (
    "{PER} [met|talked with|sat down with|visited] {PER} in {LOC}[ on {DATE}| last week|].",
    "{ORG} [said|announced|confirmed][ on {DATE}|] that it [would|will|plans to] open "
    "[an office|a plant|a store] in {LOC}.",
    "Shares of {ORG} [fell|rose|slid|jumped] [after|when] its {role}, {PER}, "
    "[resigned|was fired|stepped down].",
    "{DATELINE}, {DATE} ({ORG}) - {title} {SURNAME} arrived for talks with {AGENT}.",
    "{title} {SURNAME} [of|from] {LOC} [spoke to reporters|told reporters|said little] after "
    "the vote.",
    "{PER} may [travel to|visit|return to] {LOC} in {MONTH}, [aides|officials|sources] {verb}.",
    "{fruit} [growers|farmers|exporters] in {LOC} expect a [poor|record|late] harvest "
    "[this year|in {MONTH}].",
    "We had {dish} with {PER} [in|near] {LOC} before the [match|concert|talks].",
    "Police gave chase through [central|northern|old] {LOC}[ on {DATE}| overnight].",
    "{PER} [works for|joined|left|used to run] {ORG} in {LOC}.",
    "{ORG} and {ORG} agreed to merge, according to {AGENT}.",
    "No comment was given by the [ministry|company|club].",
    "Markets were [calm|volatile|closed] and trading was [light|heavy].",
    "The minister, {PER}, flew from {LOC} to {LOC}[ on {DATE}| this morning].",
    "In {LOC}, {ORG} [hired|appointed|named] {PER} as its new {role}.",
    "According to a report {AGENT} released on {DATE}, growth [slowed|rose] to {number} points.",
    "{PER} told the {ORG} board that talks in {LOC} had [stalled|resumed|collapsed].",
    "Born in {LOC} in {YEAR}, {PER} studied at {ORG}.",
    "{AGENT} {verb} {thing} would cost {AGENT} about {number} million.",
    "Fans in {LOC} cheered as {PER} and {PER} lifted the [cup|trophy].",
    "It may rain in the [north|south|capital], forecasters {verb}.",
    "{title} {PER} {verb} that {LOC} and {LOC} would sign the [treaty|accord|deal] in {MONTH}.",
    "The {ORG} office in {LOC} [closed early|reopened|was evacuated] on {DATE}.",
    "A spokesperson for {AGENT} declined to comment.",
    "{PER}, {age}, of {LOC}, was named {role} of {ORG}.",
    "Turkey prices rose before the holiday, and shoppers in {LOC} paid more.",
    "{LOC} beat {LOC} {number} to {number}[ on {DATE}| in the final].",
    "{AGENT} {verb} {thing} on {DATE}.",
    "Talks will resume in {LOC} on {DATE}, {AGENT} {verb}.",
    "Workers at {WHERE} went on strike over [pay|pensions|hours].",
    "{NAMED_AGENT} has not commented on {thing}.",
    "Everyone in {NAMED_PLACE} knew about {thing} by {DATE}.",
    "Critics of {AGENT} gathered outside the court in {LOC}.",
    "The vote on {thing} was delayed until {DATE}.",
    "{thing} was approved by {number} votes to {number}.",
    "Asked about {thing}, {PER} {verb} only that {NAMED_AGENT} would decide.",
    "Flights between {LOC} and {LOC} resumed after {ORG} settled with pilots.",
    "Officials {verb} the storm had passed[ by {DATE}| overnight].",
    "[Since|Until|After] {DATE}, {PER} [had lived|lived|worked] in {NAMED_PLACE}.",
    "{AGENT}, [which|who] [declined to comment|did not reply], is based in {LOC}.",
    "Thousands marched in {LOC}[ on {DATE}|], [demanding|urging] that {AGENT} resign.",
    "[Rain|Snow|Heat] [closed|delayed] roads [between|around] {LOC} and {LOC}.",
    "{PER} [and|with] {PER} [wrote|signed] a letter to {AGENT}.",
    "The [report|study|poll] by {ORG} [found|showed] support [falling|rising] in {WHERE}.",
    "On {DATE} {AGENT} [bought|sold] a stake in {NAMED_AGENT}.",
    "{SURNAME} [scored|added] {number} points for {NAMED_PLACE}.",
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
    "shop": [(None, _made_up)],  # a shop is no entity here, but looks like a brand
    "kind": [(None, _pick(_PRODUCT_KINDS))],  # a product not named, no entity either
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
    "[Order|My order|Package] {ORDER_ID} [for the|with my] {PRODUCT} has not arrived"
    "[ since {DATE}| yet].",
    "I was charged {MONEY} [twice|three times] for [order|] {ORDER_ID}.",
    "May I [get|have] a refund of {MONEY} for [my|the] {PRODUCT}?",
    "My {PRODUCT} {problem}[ on {DATE}| after a week| today]. [Order number|Order|Ref] {ORDER_ID}.",
    "Hi, the {PRODUCT} I bought for {MONEY} {problem} {emoji}",
    "Price match please: the {PRODUCT} is {MONEY} at [another store|{shop}|the mall].",
    "Thanks for the [quick|kind|] help! {name}",
    "refund {ORDER_ID} {MONEY} {DATE}",
    "Cancel {ORDER_ID} please, I ordered the {PRODUCT} by mistake.",
    "where is my [package|parcel|order]?? {emoji}",
    "{PRODUCT} - {MONEY} - [delivered|shipped|returned] {DATE}",
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
    "Tracking says {reference} but [order|] {ORDER_ID} is not here.",
    "After updating to {reference} my {PRODUCT} {problem}.",
    "I need {reference} of the {PRODUCT} for the office by {DATE}.",
    "Your courier left the parcel outside in the rain {emoji}",
    "is {ORDER_ID} the {PRODUCT} or the {PRODUCT}?",
    "The {PRODUCT} cost {MONEY} on {DATE} and {MONEY} a week later!",
    "[Does|Will] the {PRODUCT} work with [the|my] {PRODUCT}?",
    "{name} at {shop} support said I would get {MONEY} back by {DATE}.",
    "Bought [it|the {kind}] at {shop} for {MONEY}[ on {DATE}|].",
    "{shop} charged me {MONEY} for shipping {emoji}",
    "my {kind} {problem}[ {emoji}|, help|]",
    "Code {reference} did not work at checkout.",
    "order {ORDER_ID} placed {DATE}, total {MONEY}",
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
    "confusion|weight loss|nasal discharge|a cold|back pain|SOB|CP|HA|N/V|abd pain|dysuria|"
    "syncope|edema|pruritus|myalgia|malaise|diarrhea|constipation|vertigo|tinnitus|anxiety"
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
        return rng.choice(("left ", "right ", "L ", "R ", "bilateral ", "")) + part
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
    "surname": [(None, _made_up)],  # a doctor or a pharmacy: no entity
}

_CLINICAL = (
    "[pt|Patient|Pt] c/o {SYMPTOM} [radiating to|spreading to|worst in] {BODY_PART}.",
    "[Started|Began|Restarted] {DRUG} {DOSE} for {SYMPTOM}.",
    "[Denies|No|Negative for] {SYMPTOM} or {SYMPTOM}.",
    "Exam: [tenderness|bruising|redness] over the {BODY_PART}, no {SYMPTOM}.",
    "Continue {DRUG} {DOSE}; [stop|hold|taper] {DRUG}.",
    "{SYMPTOM} since [last week|yesterday|{weeks} days ago], worse at night.",
    "Came back with {SYMPTOM}; cold [compress|pack] applied to {BODY_PART}.",
    "Follow up in {weeks} weeks.",
    "Vitals stable, {measure}. Discharged home[ on {DRUG} {DOSE}|].",
    "Allergic to {DRUG} ({SYMPTOM}).",
    "{DRUG} {DOSE}, {DRUG} {DOSE} at bedtime.",
    "Reports {SYMPTOM} after taking {DRUG}.",
    "{age} yo {sex} with {SYMPTOM} and {SYMPTOM} x {weeks} days.",
    "{BODY_PART}: {SYMPTOM}, no bruising.",
    "[Increase|Decrease|Change] {DRUG} to {DOSE}.",
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
    "Takes {DRUG} [as needed|PRN|daily] for {SYMPTOM}.",
    "{SYMPTOM} [better|worse|unchanged]; [continue|stop] {DRUG}.",
    "Seen by Dr. {surname} for {SYMPTOM}[ of the {BODY_PART}|].",
    "{surname} pharmacy [called|faxed] about the {DRUG} refill.",
    "Lost {weeks} kg since [spring|the last visit]; {measure}.",
    "[Cold|Warm] water on the {BODY_PART} eased the {SYMPTOM}.",
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
    >>> data, spans = corpus("clinical", 4, seed=1)[3]
    >>> data["text"]
    'ed note: varstermab 0.5 g, nesbekazole 500 mg at bedtime. d/w attending.'
    >>> [(data["text"][s.start : s.end], s.label) for s in spans]
    [('varstermab', 'DRUG'), ('0.5 g', 'DOSE'), ('nesbekazole', 'DRUG'), ('500 mg', 'DOSE')]
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
    template = _CHOICE.sub(lambda choice: rng.choice(choice.group(1).split("|")), template)
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
